package functions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// environment is CIM's environment.yaml.
type environment struct {
	Runtime   string `yaml:"runtime" json:"runtime,omitempty"`
	Version   string `yaml:"version" json:"version,omitempty"`
	Functions []struct {
		Name       string `yaml:"name" json:"name"`
		Entrypoint string `yaml:"entrypoint" json:"entrypoint"`
	} `yaml:"functions" json:"functions"`
	MainEntrypoint string `yaml:"main_entrypoint" json:"main_entrypoint,omitempty"`
}

func readEnvironment(codeDir string) (*environment, error) {
	b, err := os.ReadFile(filepath.Join(codeDir, "environment.yaml"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var env environment
	if err := yaml.Unmarshal(b, &env); err != nil {
		return nil, fmt.Errorf("environment.yaml: %w", err)
	}
	if len(env.Functions) == 0 {
		return nil, fmt.Errorf("environment.yaml: no functions listed")
	}
	for i, f := range env.Functions {
		if f.Name == "" || !strings.Contains(f.Entrypoint, ".") {
			return nil, fmt.Errorf("environment.yaml: functions[%d] needs a name and an entrypoint module.function", i)
		}
	}
	return &env, nil
}

func (s *Service) codeDir(id int64) string { return filepath.Join(s.fnDir(id), "code") }

func (s *Service) deployAsync(id int64) {
	s.goBackground(func(ctx context.Context) { s.deploy(ctx, id) })
}

// deploy unpacks the code and checks the handler: statically (AST) and by
// importing it in a separate process, as Cognite's folder validation does.
func (s *Service) deploy(ctx context.Context, id int64) {
	f, err := s.setFunction(id, func(f *Function) { f.Status = StatusDeploying; f.Error = nil })
	if err != nil {
		return // deleted meanwhile
	}
	style, entry, version, info := s.prepare(ctx, f)
	if ctx.Err() != nil {
		return // shutting down: stays Deploying, redeployed on the next start
	}
	s.setFunction(id, func(f *Function) {
		if info != nil {
			f.Status, f.Error = StatusFailed, info
			return
		}
		f.Status, f.Style, f.Entrypoint, f.RuntimeVer = StatusReady, style, entry, version
	})
	s.log.Info("function deployed", "id", id, "name", f.Name, "ok", info == nil)
}

func (s *Service) prepare(ctx context.Context, f *Function) (style, entry, version string, info *ErrorInfo) {
	fail := func(format string, a ...any) (string, string, string, *ErrorInfo) {
		return "", "", "", &ErrorInfo{Type: "DeployError", Message: fmt.Sprintf(format, a...)}
	}
	dir := s.codeDir(f.ID)
	if err := unpackCode(s.codePath(f.FileID), dir, 4*s.opts.Limits.MaxCodeBytes); err != nil {
		return fail("unpack code: %v", err)
	}
	env, err := readEnvironment(dir)
	if err != nil {
		return fail("%v", err)
	}
	style, entry = f.Style, f.Entrypoint
	if style == "" {
		switch {
		case env != nil:
			style = StyleCIM
		case strings.HasSuffix(f.FunctionPath, ".py"):
			style = StyleCognite
		default:
			style = StyleExec
		}
	}
	switch style {
	case StyleCIM:
		if env == nil {
			return fail("style cim needs an environment.yaml with a functions list")
		}
		if entry == "" {
			entry = env.Functions[0].Name
		}
		found := false
		for _, fn := range env.Functions {
			found = found || fn.Name == entry
		}
		if !found {
			return fail("environment.yaml has no function named %q", entry)
		}
	case StyleCognite:
		entry = f.FunctionPath
		if !strings.HasSuffix(entry, ".py") {
			return fail("functionPath %q must be a .py file", entry)
		}
		if _, err := os.Stat(filepath.Join(dir, entry)); err != nil {
			return fail("functionPath %q not found in the code folder", entry)
		}
	case StyleExec:
		entry = f.FunctionPath
		st, err := os.Stat(filepath.Join(dir, entry))
		if err != nil || !st.Mode().IsRegular() {
			return fail("functionPath %q not found in the code folder", entry)
		}
		if st.Mode()&0o111 == 0 {
			return fail("functionPath %q is not executable", entry)
		}
		return style, entry, "", nil
	}
	req := map[string]any{"protocol": "fnproc/1", "style": style, "entry": entry, "code_dir": dir}
	if env != nil {
		req["environment"] = env
	}
	body, _ := json.Marshal(req)
	tmp, err := os.MkdirTemp(filepath.Join(s.opts.Dir, "calls"), "deploy-")
	if err != nil {
		return fail("%v", err)
	}
	defer os.RemoveAll(tmp)
	res, err := runProcess(ctx, procSpec{
		Path: s.opts.Python, Args: []string{s.shimPath, "--check"}, Dir: tmp,
		Env:   s.baseEnv(tmp, f),
		Stdin: body, Timeout: s.opts.DeployTimeout, Grace: s.opts.KillGrace,
		MaxResult: 1 << 20, MaxLog: 64 << 10, LineLimit: s.opts.LineLimit,
		Limits: s.limitsFor(f, s.opts.DeployTimeout),
	})
	if err != nil {
		return fail("run the import check: %v", err)
	}
	if res.TimedOut {
		return fail("importing the handler took longer than %s", s.opts.DeployTimeout)
	}
	var out procOutput
	if err := json.Unmarshal(res.Result, &out); err != nil || out.Status == "" {
		return "", "", "", &ErrorInfo{Type: "DeployError", Message: "the import check wrote no result", Trace: logsText(res.Logs)}
	}
	if out.Status != "ok" {
		e := out.Error
		if e == nil {
			e = &ErrorInfo{Message: "the import check failed"}
		}
		return "", "", "", e
	}
	var v struct {
		Python string `json:"python"`
	}
	json.Unmarshal(out.Response, &v)
	return style, entry, v.Python, nil
}

// procOutput is the fd 3 result document of fnproc/1.
type procOutput struct {
	Status   string          `json:"status"`
	Response json.RawMessage `json:"response"`
	Error    *ErrorInfo      `json:"error"`
}

func logsText(l []LogEntry) string {
	var b strings.Builder
	for _, e := range l {
		b.WriteString(e.Message)
		b.WriteByte('\n')
	}
	return b.String()
}

// baseEnv is the scrubbed environment every process gets.
func (s *Service) baseEnv(tmp string, f *Function) []string {
	env := []string{
		"PATH=" + envOr("PATH", "/usr/local/bin:/usr/bin:/bin"),
		"LANG=C.UTF-8", "HOME=" + tmp, "TMPDIR=" + tmp,
		"PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1",
	}
	for k, v := range f.EnvVars {
		env = append(env, k+"="+v)
	}
	return env
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
