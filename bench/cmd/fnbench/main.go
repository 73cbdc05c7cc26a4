// Command fnbench measures the functions runtime against starting the same
// interpreter directly, side by side in one run, and prints medians and
// ratios:
//
//	python: an empty Python call (Cognite style, through the shim and the
//	        registry) vs `python3 -c "import handler; handler.handle()"`
//	shell:  an empty shell handler (fnproc/1 directly) vs `sh handler.sh`
//	trigger: time from a committed Put to the start of the triggered process
//
// usage: fnbench [-n N] [-only python,shell,trigger] [-dir DIR]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bucketfs/bucketfs/functions"
	"github.com/bucketfs/bucketfs/storage"
)

func main() {
	n := flag.Int("n", 50, "runs per measurement")
	only := flag.String("only", "python,shell,trigger", "measurements to run")
	dir := flag.String("dir", "", "work directory (default: a temporary one)")
	flag.Parse()
	if err := run(*n, *only, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "fnbench:", err)
		os.Exit(1)
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func run(n int, only, dir string) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "fnbench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	st, err := storage.Open(filepath.Join(dir, "data"), storage.DefaultOptions())
	if err != nil {
		return err
	}
	defer st.Close()
	opts := functions.DefaultOptions()
	opts.Dir = filepath.Join(dir, "functions")
	opts.PollWait = time.Second
	svc, err := functions.New(st.DB(), st, opts)
	if err != nil {
		return err
	}
	defer svc.Close()
	ctx := context.Background()
	want := map[string]bool{}
	for _, w := range strings.Split(only, ",") {
		want[strings.TrimSpace(w)] = true
	}
	fmt.Printf("%-28s %10s %10s %8s\n", "measurement", "median", "calls/s", "ratio")
	if want["python"] {
		if err := benchPython(ctx, svc, dir, n); err != nil {
			return err
		}
	}
	if want["shell"] {
		if err := benchShell(ctx, svc, dir, n); err != nil {
			return err
		}
	}
	if want["trigger"] {
		if err := benchTrigger(ctx, svc, st, dir, n); err != nil {
			return err
		}
	}
	return nil
}

func deploy(ctx context.Context, svc *functions.Service, spec functions.FunctionSpec) (*functions.Function, error) {
	f, err := svc.CreateFunction(ctx, spec)
	if err != nil {
		return nil, err
	}
	for {
		f, err = svc.GetFunction(ctx, f.ID)
		if err != nil {
			return nil, err
		}
		switch f.Status {
		case functions.StatusReady:
			return f, nil
		case functions.StatusFailed:
			return nil, fmt.Errorf("deploy %s: %s", spec.Name, f.Error.Message)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// timeCalls runs n sequential calls and returns their wall times.
func timeCalls(ctx context.Context, svc *functions.Service, f *functions.Function, n int) ([]time.Duration, error) {
	var ds []time.Duration
	for i := 0; i < n; i++ {
		t := time.Now()
		c, err := svc.CallAndWait(ctx, f.ID, functions.CallRequest{})
		if err != nil {
			return nil, err
		}
		if c.Status != functions.CallCompleted {
			return nil, fmt.Errorf("call %d: %s %+v", c.ID, c.Status, c.Error)
		}
		ds = append(ds, time.Since(t))
	}
	return ds, nil
}

func timeCmd(n int, dir string, name string, args ...string) ([]time.Duration, error) {
	var ds []time.Duration
	for i := 0; i < n; i++ {
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		t := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("%s: %v: %s", name, err, out)
		}
		ds = append(ds, time.Since(t))
	}
	return ds, nil
}

func report(name string, ours, peer []time.Duration, peerName string) {
	mo, mp := median(ours), median(peer)
	fmt.Printf("%-28s %10s %10.1f %8s\n", name, mo.Round(100*time.Microsecond), float64(time.Second)/float64(mo), "")
	fmt.Printf("%-28s %10s %10.1f %8s\n", peerName, mp.Round(100*time.Microsecond), float64(time.Second)/float64(mp), "")
	fmt.Printf("%-28s %10s %10s %8.2fx\n", "  ratio (ours / direct)", "", "", float64(mo)/float64(mp))
}

const emptyPython = "def handle():\n    return None\n"

func benchPython(ctx context.Context, svc *functions.Service, dir string, n int) error {
	f, err := deploy(ctx, svc, functions.FunctionSpec{Name: "empty-py", HandlerSource: emptyPython})
	if err != nil {
		return err
	}
	code := filepath.Join(dir, "pycode")
	os.MkdirAll(code, 0o755)
	os.WriteFile(filepath.Join(code, "handler.py"), []byte(emptyPython), 0o644)
	// Warm both paths once (page cache, .pyc of the standard library).
	timeCalls(ctx, svc, f, 2)
	timeCmd(2, code, "python3", "-c", "import handler; handler.handle()")
	// Interleave the two so load changes hit both alike.
	var ours, peer []time.Duration
	for i := 0; i < n; i++ {
		o, err := timeCalls(ctx, svc, f, 1)
		if err != nil {
			return err
		}
		p, err := timeCmd(1, code, "python3", "-c", "import handler; handler.handle()")
		if err != nil {
			return err
		}
		ours, peer = append(ours, o...), append(peer, p...)
	}
	report("python call (fn)", ours, peer, "python3 -c handler (direct)")
	return nil
}

const emptyShell = "#!/bin/sh\nprintf '{\"status\":\"ok\"}' >&3\n"

func benchShell(ctx context.Context, svc *functions.Service, dir string, n int) error {
	f, err := deploy(ctx, svc, functions.FunctionSpec{Name: "empty-sh", FunctionPath: "handler.sh", HandlerSource: emptyShell})
	if err != nil {
		return err
	}
	code := filepath.Join(dir, "shcode")
	os.MkdirAll(code, 0o755)
	os.WriteFile(filepath.Join(code, "handler.sh"), []byte(emptyShell), 0o755)
	timeCalls(ctx, svc, f, 2)
	var ours, peer []time.Duration
	for i := 0; i < n; i++ {
		o, err := timeCalls(ctx, svc, f, 1)
		if err != nil {
			return err
		}
		p, err := timeCmd(1, code, "sh", "-c", "sh handler.sh 3>/dev/null")
		if err != nil {
			return err
		}
		ours, peer = append(ours, o...), append(peer, p...)
	}
	report("shell call (fn)", ours, peer, "sh handler.sh (direct)")
	return nil
}

// benchTrigger measures Put-committed to process-started.
func benchTrigger(ctx context.Context, svc *functions.Service, st *storage.Store, dir string, n int) error {
	if _, err := st.CreateBucket(ctx, storage.BucketOptions{Name: "bench"}); err != nil {
		return err
	}
	stamps := filepath.Join(dir, "stamps")
	script := "#!/bin/sh\ndate +%s%N >> " + stamps + "\ncat >/dev/null\nprintf '{\"status\":\"ok\"}' >&3\n"
	f, err := deploy(ctx, svc, functions.FunctionSpec{Name: "stamp-sh", FunctionPath: "handler.sh", HandlerSource: script})
	if err != nil {
		return err
	}
	if err := svc.Start(ctx); err != nil {
		return err
	}
	if _, err := svc.CreateTrigger(ctx, functions.TriggerSpec{FunctionID: f.ID, Bucket: "bench"}); err != nil {
		return err
	}
	var ds []time.Duration
	for i := 0; i < n; i++ {
		before := lines(stamps)
		if _, err := st.Put(ctx, "bench", "k"+strconv.Itoa(i), strings.NewReader("x"), storage.PutOptions{Size: 1}); err != nil {
			return err
		}
		committed := time.Now()
		deadline := time.Now().Add(30 * time.Second)
		for {
			ls := linesList(stamps)
			if len(ls) > before {
				ns, _ := strconv.ParseInt(ls[len(ls)-1], 10, 64)
				ds = append(ds, time.Unix(0, ns).Sub(committed))
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("trigger %d not delivered", i)
			}
			time.Sleep(time.Millisecond)
		}
		// Let the call finish before the next Put.
		for {
			calls, _ := svc.ListCalls(ctx, f.ID, functions.CallFilter{Limit: 1})
			if len(calls) > 0 && calls[0].Status != functions.CallRunning {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	m := median(ds)
	fmt.Printf("%-28s %10s\n", "trigger-to-start latency", m.Round(100*time.Microsecond))
	return nil
}

func linesList(p string) []string {
	b, _ := os.ReadFile(p)
	return strings.Fields(string(b))
}

func lines(p string) int { return len(linesList(p)) }
