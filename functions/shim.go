package functions

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
)

// shimSource is the Python shim shipped inside the binary.
//
//go:embed shim/fxshim.py
var shimSource []byte

// ShimSource returns the embedded Python shim (for tools and benchmarks).
func ShimSource() []byte { return shimSource }

// installShim writes the shim under dir, named by its content hash so that
// a running call never sees a half-written or newer shim.
func installShim(dir string) (string, error) {
	sum := sha256.Sum256(shimSource)
	p := filepath.Join(dir, "shim", "fxshim-"+hex.EncodeToString(sum[:6])+".py")
	if b, err := os.ReadFile(p); err == nil && string(b) == string(shimSource) {
		return p, nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", fmt.Errorf("functions: install shim: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".shim-*")
	if err != nil {
		return "", fmt.Errorf("functions: install shim: %w", err)
	}
	if _, err := tmp.Write(shimSource); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return "", fmt.Errorf("functions: install shim: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return "", fmt.Errorf("functions: install shim: %w", err)
	}
	return p, nil
}
