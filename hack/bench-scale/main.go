// Command bench-scale measures `auditor run -o json` against a real control plane
// (etcd + kube-apiserver, no controller-manager, so the load stays as created) holding N
// PVs, N PVCs, N pods, N VolumeAttachments, N/10 nodes and CSINodes and 5N events, next to
// the floor: hack/bench-scale/floor, a minimal program that only LISTs the same kinds.
// For each N it starts a fresh control plane, loads it, runs the floor and the auditor
// -runs times each (alternating), stops the control plane and prints a table of medians.
//
//	go run ./hack/bench-scale -n 5000,10000,20000     # or hack/bench-scale.sh
//
// It prints numbers and judges none of them. It fails only if something breaks: a load
// error, a floor error, an auditor exit code other than 0 or 1, or an auditor report
// without findings (the loaded cluster always has some).
//
// Binaries: etcd from PATH, kube-apiserver from $KUBE_BIN_DIR (hack/ensure-deps.sh prints
// it) or built by the controlplane package.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/storage-auditor/auditor/test/controlplane"
)

const module = "github.com/storage-auditor/auditor"

type options struct {
	sizes       []int
	runs        int
	workers     int
	conns       int
	loadOnly    bool
	timeout     time.Duration
	auditorArgs []string
	keep        bool
	apiArgs     []string
	hold        time.Duration
}

func main() {
	var o options
	sizes := flag.String("n", "5000,10000,20000", "comma-separated cluster sizes N (PVs, PVCs, pods, VolumeAttachments each; N/10 nodes; 5N events)")
	flag.IntVar(&o.runs, "runs", 3, "runs of each measured command per N (the table shows medians)")
	flag.IntVar(&o.workers, "workers", 48, "loader goroutines")
	flag.IntVar(&o.conns, "conns", 4, "loader HTTP/2 connections")
	flag.BoolVar(&o.loadOnly, "load-only", false, "only load (to tune -workers/-conns); measure nothing")
	flag.DurationVar(&o.timeout, "timeout", 30*time.Minute, "limit per N (start, load, measure)")
	auditorArgs := flag.String("auditor-args", "", "extra arguments for `auditor run`, space-separated (e.g. \"--qps 500 --burst 1000\")")
	apiArgs := flag.String("apiserver-args", "", "extra kube-apiserver flags, space-separated (e.g. \"--profiling=true\" to profile it)")
	flag.DurationVar(&o.hold, "hold", 0, "after measuring each N, keep its control plane running this long (for poking at it; the kubeconfig path is printed)")
	flag.BoolVar(&o.keep, "keep-reports", false, "keep the auditor's JSON reports and stderr (the directory is printed)")
	flag.Parse()
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 100 {
			fmt.Fprintf(os.Stderr, "bench-scale: -n: %q is not a size of at least 100\n", s)
			os.Exit(2)
		}
		o.sizes = append(o.sizes, n)
	}
	o.auditorArgs = strings.Fields(*auditorArgs)
	o.apiArgs = strings.Fields(*apiArgs)
	if o.runs < 1 {
		o.runs = 1
	}

	err := run(o)
	if left, lerr := controlplane.Leftovers(); lerr != nil {
		fmt.Fprintln(os.Stderr, "bench-scale: warning: checking for leftover processes:", lerr)
	} else if len(left) > 0 {
		fmt.Fprintln(os.Stderr, "bench-scale: WARNING: control plane processes left behind:\n  "+strings.Join(left, "\n  "))
		if err == nil {
			err = errors.New("control plane processes left behind")
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-scale:", err)
		os.Exit(1)
	}
}

// row is one line of the table.
type row struct {
	n             int
	objects       int64
	load          time.Duration
	rate          float64 // requests/s during the load
	floor, aud    time.Duration
	audLoad, rule time.Duration
	audRSS, flRSS int64 // KiB
	findings      int
	floorObjects  int64
	audCPU, flCPU time.Duration // client CPU
	audSrv, flSrv time.Duration // server CPU during the run
}

func run(o options) error {
	tmp, err := os.MkdirTemp("", "bench-scale-")
	if err != nil {
		return err
	}
	if !o.keep {
		defer os.RemoveAll(tmp)
	} else {
		fmt.Fprintln(os.Stderr, "reports and logs kept in", tmp)
	}
	auditor, floor := filepath.Join(tmp, "auditor"), filepath.Join(tmp, "floor")
	if !o.loadOnly {
		for _, b := range [][2]string{{auditor, module + "/cmd/auditor"}, {floor, module + "/hack/bench-scale/floor"}} {
			fmt.Fprintf(os.Stderr, "go build -o %s %s\n", b[0], b[1])
			cmd := exec.Command("go", "build", "-o", b[0], b[1])
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("building %s: %w", b[1], err)
			}
		}
	}

	var rows []row
	for _, n := range o.sizes {
		r, err := benchN(o, n, tmp, auditor, floor)
		if err != nil {
			return fmt.Errorf("N=%d: %w", n, err)
		}
		rows = append(rows, r)
	}
	printTable(o, rows)
	return nil
}

func benchN(o options, n int, tmp, auditor, floor string) (r row, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	r.n = n
	fmt.Fprintf(os.Stderr, "\n== N=%d: starting a control plane (etcd, kube-apiserver; no controller-manager)\n", n)
	cp, err := controlplane.Start(ctx, controlplane.Options{ControllerManager: false, ExtraAPIServerArgs: o.apiArgs})
	if err != nil {
		return r, err
	}
	defer func() {
		if serr := cp.Stop(); serr != nil && err == nil {
			err = serr
		}
	}()

	l, err := newLoader(cp, n, o.conns)
	if err != nil {
		return r, err
	}
	fmt.Fprintf(os.Stderr, "loading: %d PVs, PVCs, pods, VolumeAttachments, %d nodes and CSINodes, %d events in %d namespaces (%d workers, %d connections)\n",
		n, l.nodes, n*eventsPer, (n+perNS-1)/perNS, o.workers, o.conns)
	start := time.Now()
	if err := l.run(ctx, o.workers, os.Stderr); err != nil {
		return r, fmt.Errorf("loading: %w", err)
	}
	r.load = time.Since(start)
	r.objects = l.stats.objects.Load()
	reqs := l.stats.requests.Load()
	r.rate = float64(reqs) / r.load.Seconds()
	fmt.Fprintf(os.Stderr, "loaded %d objects with %d requests in %s: %.0f objects/s, %.0f requests/s (%d retries)\n",
		r.objects, reqs, r.load.Round(time.Millisecond), float64(r.objects)/r.load.Seconds(), r.rate, l.stats.retries.Load())
	if o.loadOnly {
		return r, nil
	}

	var floors, auds []sample
	for i := range o.runs {
		// Alternate the order so that neither always runs on a warmer (or busier) server.
		order := []string{"floor", "auditor"}
		if i%2 == 1 {
			order = []string{"auditor", "floor"}
		}
		for _, which := range order {
			var s sample
			var err error
			if which == "floor" {
				s, err = runFloor(ctx, cp, floor)
				floors = append(floors, s)
			} else {
				s, err = runAuditor(ctx, o, cp, auditor, filepath.Join(tmp, fmt.Sprintf("report-%d-%d", n, i)))
				auds = append(auds, s)
			}
			if err != nil {
				return r, err
			}
			fmt.Fprintf(os.Stderr, "  run %d %-7s %7.2fs  CPU %5.2fs  server CPU %5.2fs  peak RSS %4d MB  %s\n",
				i+1, which, s.wall.Seconds(), s.cpu.Seconds(), s.server.Seconds(), s.rss/1024, s.note)
		}
	}
	r.floor = median(floors, func(s sample) time.Duration { return s.wall })
	r.aud = median(auds, func(s sample) time.Duration { return s.wall })
	r.audLoad = median(auds, func(s sample) time.Duration { return s.load })
	r.rule = median(auds, func(s sample) time.Duration { return s.rules })
	r.audRSS = int64(median(auds, func(s sample) time.Duration { return time.Duration(s.rss) }))
	r.flRSS = int64(median(floors, func(s sample) time.Duration { return time.Duration(s.rss) }))
	r.audCPU = median(auds, func(s sample) time.Duration { return s.cpu })
	r.flCPU = median(floors, func(s sample) time.Duration { return s.cpu })
	r.audSrv = median(auds, func(s sample) time.Duration { return s.server })
	r.flSrv = median(floors, func(s sample) time.Duration { return s.server })
	r.findings = auds[len(auds)-1].findings
	if o.hold > 0 {
		fmt.Fprintf(os.Stderr, "holding the control plane for %s: KUBECONFIG=%s\n", o.hold, cp.Kubeconfig)
		select {
		case <-time.After(o.hold):
		case <-ctx.Done():
		}
	}
	r.floorObjects = floors[len(floors)-1].objects
	return r, nil
}

// sample is one measured run.
type sample struct {
	wall        time.Duration
	rss         int64 // peak RSS, KiB
	load, rules time.Duration
	findings    int
	objects     int64         // floor: objects listed
	cpu         time.Duration // the command's own CPU time (user+sys)
	server      time.Duration // CPU time kube-apiserver and etcd spent meanwhile
	note        string
}

// measure runs a command and returns its wall time, peak RSS (from wait4's rusage), exit
// code, stdout and stderr.
func measure(ctx context.Context, stdout *os.File, name string, args ...string) (wall, cpu time.Duration, rss int64, code int, out, errOut []byte, err error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var so, se bytes.Buffer
	if stdout != nil {
		cmd.Stdout = stdout
	} else {
		cmd.Stdout = &so
	}
	cmd.Stderr = &se
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	err = cmd.Run()
	wall = time.Since(start)
	if cmd.ProcessState == nil {
		return 0, 0, 0, -1, nil, se.Bytes(), fmt.Errorf("%s: %w", filepath.Base(name), err)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = ru.Maxrss // KiB on Linux
	}
	cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return 0, 0, 0, -1, nil, se.Bytes(), fmt.Errorf("%s: %w", filepath.Base(name), err)
	}
	return wall, cpu, rss, cmd.ProcessState.ExitCode(), so.Bytes(), se.Bytes(), nil
}

func runFloor(ctx context.Context, cp *controlplane.ControlPlane, floor string) (sample, error) {
	srv0 := serverCPU(cp)
	wall, cpu, rss, code, out, errOut, err := measure(ctx, nil, floor, "--kubeconfig", cp.Kubeconfig)
	if err != nil {
		return sample{}, err
	}
	srv := serverCPU(cp) - srv0
	if code != 0 {
		return sample{}, fmt.Errorf("floor exited with %d: %s", code, bytes.TrimSpace(errOut))
	}
	s := sample{wall: wall, rss: rss, cpu: cpu, server: srv, note: strings.TrimSpace(string(out))}
	if f := strings.Fields(string(out)); len(f) >= 2 {
		s.objects, _ = strconv.ParseInt(f[1], 10, 64)
	}
	return s, nil
}

var timingsRE = regexp.MustCompile(`timings: load (\S+), rules (\S+)`)

func runAuditor(ctx context.Context, o options, cp *controlplane.ControlPlane, auditor, report string) (sample, error) {
	f, err := os.Create(report + ".json")
	if err != nil {
		return sample{}, err
	}
	defer f.Close()
	args := append([]string{"run", "--kubeconfig", cp.Kubeconfig, "-o", "json", "--debug-timings"}, o.auditorArgs...)
	srv0 := serverCPU(cp)
	wall, cpu, rss, code, _, errOut, err := measure(ctx, f, auditor, args...)
	if err != nil {
		return sample{}, err
	}
	srv := serverCPU(cp) - srv0
	if o.keep {
		_ = os.WriteFile(report+".stderr", errOut, 0o644)
	}
	if code != 0 && code != 1 {
		return sample{}, fmt.Errorf("auditor exited with %d:\n%s", code, tail(errOut, 20))
	}
	s := sample{wall: wall, rss: rss, cpu: cpu, server: srv}
	m := timingsRE.FindSubmatch(errOut)
	if m == nil {
		return sample{}, fmt.Errorf("no \"timings:\" line in the auditor's stderr:\n%s", tail(errOut, 20))
	}
	if s.load, err = time.ParseDuration(string(m[1])); err != nil {
		return sample{}, fmt.Errorf("auditor timings: %w", err)
	}
	if s.rules, err = time.ParseDuration(string(m[2])); err != nil {
		return sample{}, fmt.Errorf("auditor timings: %w", err)
	}
	data, err := os.ReadFile(report + ".json")
	if err != nil {
		return sample{}, err
	}
	var rep struct {
		Summary    map[string]int    `json:"summary"`
		Findings   []json.RawMessage `json:"findings"`
		Skipped    []json.RawMessage `json:"skipped"`
		Unreadable []json.RawMessage `json:"unreadable"`
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		return sample{}, fmt.Errorf("auditor report is not JSON: %w", err)
	}
	s.findings = len(rep.Findings)
	if s.findings == 0 {
		return sample{}, fmt.Errorf("auditor found nothing (the loaded cluster always has findings); stderr:\n%s", tail(errOut, 20))
	}
	s.note = fmt.Sprintf("load %s rules %s, %d findings (critical %d, warning %d, info %d), %d rules skipped, report %d KB",
		s.load.Round(time.Millisecond), s.rules.Round(time.Millisecond), s.findings,
		rep.Summary["critical"], rep.Summary["warning"], rep.Summary["info"], len(rep.Skipped), len(data)/1024)
	if !o.keep {
		_ = os.Remove(report + ".json")
	}
	return s, nil
}

func tail(b []byte, lines int) string {
	ls := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}

func median(ss []sample, f func(sample) time.Duration) time.Duration {
	v := make([]time.Duration, len(ss))
	for i, s := range ss {
		v[i] = f(s)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func printTable(o options, rows []row) {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	defer w.Flush()
	if o.loadOnly {
		fmt.Fprintln(w, "N\tobjects\tload s\tobjects/s\trequests/s\t")
		for _, r := range rows {
			fmt.Fprintf(w, "%d\t%d\t%.1f\t%.0f\t%.0f\t\n", r.n, r.objects, r.load.Seconds(), float64(r.objects)/r.load.Seconds(), r.rate)
		}
		return
	}
	fmt.Printf("\nmedians of %d runs each; auditor = `auditor run -o json` (its own load/rules split from --debug-timings)\n", o.runs)
	fmt.Fprintln(w, "N\tobjects\tload s\tobj/s\tfloor s\tauditor s\tratio\taud load s\trules s\trules %\taud RSS MB\tfloor RSS MB\tfindings\t")
	defer func() {
		w.Flush()
		fmt.Println("\nwhere the CPU goes (medians, seconds): the command itself, and kube-apiserver + etcd meanwhile")
		w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(w, "N\tfloor CPU\tfloor server CPU\tauditor CPU\tauditor server CPU\t")
		for _, r := range rows {
			fmt.Fprintf(w, "%d\t%.2f\t%.2f\t%.2f\t%.2f\t\n", r.n, r.flCPU.Seconds(), r.flSrv.Seconds(), r.audCPU.Seconds(), r.audSrv.Seconds())
		}
		w.Flush()
	}()
	for _, r := range rows {
		fmt.Fprintf(w, "%d\t%d\t%.1f\t%.0f\t%.2f\t%.2f\t%.2fx\t%.2f\t%.3f\t%.1f%%\t%d\t%d\t%d\t\n",
			r.n, r.objects, r.load.Seconds(), float64(r.objects)/r.load.Seconds(),
			r.floor.Seconds(), r.aud.Seconds(), r.aud.Seconds()/r.floor.Seconds(),
			r.audLoad.Seconds(), r.rule.Seconds(), 100*r.rule.Seconds()/r.aud.Seconds(),
			r.audRSS/1024, r.flRSS/1024, r.findings)
	}
}

// serverCPU returns the CPU time (user+sys) kube-apiserver and etcd have used so far, from
// /proc/PID/stat of the processes listed in the control plane's pids file; 0 if unknown.
func serverCPU(cp *controlplane.ControlPlane) time.Duration {
	data, err := os.ReadFile(filepath.Join(cp.Dir, "pids"))
	if err != nil {
		return 0
	}
	var total time.Duration
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || (f[0] != "kube-apiserver" && f[0] != "etcd") {
			continue
		}
		stat, err := os.ReadFile("/proc/" + f[1] + "/stat")
		if err != nil {
			continue
		}
		// Fields after the command name, which is in parentheses: state is 3rd overall,
		// utime and stime are the 14th and 15th (clock ticks, 100 per second on Linux).
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		fs := strings.Fields(string(stat[i+1:]))
		if len(fs) < 13 {
			continue
		}
		ut, _ := strconv.ParseInt(fs[11], 10, 64)
		st, _ := strconv.ParseInt(fs[12], 10, 64)
		total += time.Duration(ut+st) * 10 * time.Millisecond
	}
	return total
}
