package functions

import (
	"fmt"
	"path"
	"regexp"
	"strings"
	"unicode/utf8"
)

var (
	secretKeyRe = regexp.MustCompile(`^[a-z0-9-]{1,15}$`)
	envKeyRe    = regexp.MustCompile(`^[A-Za-z0-9_]+$`)
	nameRe      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,139}$`)
	genNameRe   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)
)

// validateSpec applies Cognite's documented limits to a function's fields.
func validateSpec(s *FunctionSpec, lim Limits) error {
	if !nameRe.MatchString(s.Name) {
		return fmt.Errorf("%w: name %q: 1-140 characters, letters, digits, '.', '_' or '-', starting with a letter or digit", ErrInvalid, s.Name)
	}
	if len(s.ExternalID) > 255 {
		return fmt.Errorf("%w: externalId is longer than 255 characters", ErrInvalid)
	}
	if len(s.Description) > 500 {
		return fmt.Errorf("%w: description is longer than 500 characters", ErrInvalid)
	}
	if len(s.Owner) > 128 {
		return fmt.Errorf("%w: owner is longer than 128 characters", ErrInvalid)
	}
	if err := validateFunctionPath(s.FunctionPath); err != nil {
		return err
	}
	if len(s.Secrets) > 30 {
		return fmt.Errorf("%w: %d secrets, at most 30 allowed", ErrInvalid, len(s.Secrets))
	}
	for k := range s.Secrets {
		if !secretKeyRe.MatchString(k) {
			return fmt.Errorf("%w: secret key %q: lowercase letters, digits or '-', at most 15 characters", ErrInvalid, k)
		}
	}
	if len(s.EnvVars) > 100 {
		return fmt.Errorf("%w: %d environment variables, at most 100 allowed", ErrInvalid, len(s.EnvVars))
	}
	for k := range s.EnvVars {
		if !envKeyRe.MatchString(k) {
			return fmt.Errorf("%w: environment variable %q: letters, digits or '_' only", ErrInvalid, k)
		}
	}
	if err := validateMetadata(s.Metadata); err != nil {
		return err
	}
	if s.CPU != 0 && (s.CPU < lim.CPUCores.Min || s.CPU > lim.CPUCores.Max) {
		return fmt.Errorf("%w: cpu %g outside %g..%g cores", ErrInvalid, s.CPU, lim.CPUCores.Min, lim.CPUCores.Max)
	}
	if s.Memory != 0 && (s.Memory < lim.MemoryGB.Min || s.Memory > lim.MemoryGB.Max) {
		return fmt.Errorf("%w: memory %g outside %g..%g GB", ErrInvalid, s.Memory, lim.MemoryGB.Min, lim.MemoryGB.Max)
	}
	if s.Runtime != "" {
		ok := false
		for _, r := range lim.Runtimes {
			ok = ok || r == s.Runtime
		}
		if !ok {
			return fmt.Errorf("%w: runtime %q; allowed: %s", ErrInvalid, s.Runtime, strings.Join(lim.Runtimes, ", "))
		}
	}
	if s.TimeoutSec < 0 || s.TimeoutSec > lim.TimeoutMinutes*60 {
		return fmt.Errorf("%w: timeoutSeconds %d outside 0..%d", ErrInvalid, s.TimeoutSec, lim.TimeoutMinutes*60)
	}
	switch s.Style {
	case "", StyleCognite, StyleCIM, StyleExec:
	default:
		return fmt.Errorf("%w: style %q; allowed: cognite, cim, exec", ErrInvalid, s.Style)
	}
	return nil
}

func validateFunctionPath(p string) error {
	if p == "" {
		return nil
	}
	if strings.HasPrefix(p, "/") || strings.Contains(p, "\\") || path.Clean(p) != p || strings.HasPrefix(p, "../") || p == ".." {
		return fmt.Errorf("%w: functionPath %q must be a relative POSIX path inside the code folder", ErrInvalid, p)
	}
	return nil
}

// validateMetadata: at most 16 pairs, key ≤ 32, value ≤ 512, total ≤ 4096 bytes.
func validateMetadata(m map[string]string) error {
	if len(m) > 16 {
		return fmt.Errorf("%w: metadata has %d pairs, at most 16 allowed", ErrInvalid, len(m))
	}
	total := 0
	for k, v := range m {
		if utf8.RuneCountInString(k) > 32 {
			return fmt.Errorf("%w: metadata key %q is longer than 32 characters", ErrInvalid, k)
		}
		if utf8.RuneCountInString(v) > 512 {
			return fmt.Errorf("%w: metadata value of %q is longer than 512 characters", ErrInvalid, k)
		}
		total += len(k) + len(v)
	}
	if total > 4096 {
		return fmt.Errorf("%w: metadata is %d bytes, at most 4096 allowed", ErrInvalid, total)
	}
	return nil
}
