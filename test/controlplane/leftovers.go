package controlplane

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

var processNames = map[string]bool{"etcd": true, "kube-apiserver": true, "kube-controller-manager": true}

// Leftovers returns a description of every etcd, kube-apiserver or
// kube-controller-manager process that this package started in a DirPrefix* directory
// and that is not part of a running control plane: its state directory is gone or
// marked stopped, or the Go process that started it has died. Tests call it after Stop
// to assert that nothing survived.
//
// Control planes that are still running, including other test packages' running in
// parallel, are not reported; neither are those in directories not named DirPrefix*
// (e.g. hack/local-cluster.sh's).
func Leftovers() ([]string, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var found []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		args, err := procCmdline(pid)
		if err != nil || len(args) == 0 || !processNames[filepath.Base(args[0])] {
			continue // gone meanwhile, a kernel thread, or not ours
		}
		dir := stateDirOf(args)
		if dir == "" {
			continue
		}
		if _, state, err := procStat(pid); err != nil || state == 'Z' {
			continue // exited; a zombie is merely not reaped yet
		}
		if why := notLive(dir); why != "" {
			found = append(found, fmt.Sprintf("pid %d %s (state dir %s): %s", pid, filepath.Base(args[0]), dir, why))
		}
	}
	return found, nil
}

// stateDirOf finds the DirPrefix* directory that a process's flags refer to.
func stateDirOf(args []string) string {
	for _, a := range args[1:] {
		if _, v, ok := strings.Cut(a, "="); ok {
			a = v
		}
		for p := a; p != "/" && p != "." && p != ""; p = filepath.Dir(p) {
			if strings.HasPrefix(filepath.Base(p), DirPrefix) {
				return p
			}
		}
	}
	return ""
}

// notLive says why a control plane directory does not belong to a running control
// plane, or returns "" if it does.
func notLive(dir string) string {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return "state directory removed, so Stop ran"
	}
	if _, err := os.Stat(filepath.Join(dir, stoppedFile)); err == nil {
		return "control plane was stopped"
	}
	data, err := os.ReadFile(filepath.Join(dir, ownerFile))
	if err != nil {
		return "" // detached: lives until someone stops it
	}
	var pid int
	var start uint64
	if _, err := fmt.Sscan(string(data), &pid, &start); err != nil {
		return ""
	}
	if st, state, err := procStat(pid); err != nil || st != start || state == 'Z' {
		return fmt.Sprintf("the process that started it (pid %d) is gone", pid)
	}
	return ""
}
