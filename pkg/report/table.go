package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/storage-auditor/auditor/pkg/audit"
)

const (
	ansiReset  = "\x1b[0m"
	ansiRed    = "\x1b[1;31m"
	ansiYellow = "\x1b[33m"
	ansiCyan   = "\x1b[36m"
	ansiDim    = "\x1b[2m"
)

func paint(on bool, code, s string) string {
	if !on {
		return s
	}
	return code + s + ansiReset
}

func severityColor(s audit.Severity) string {
	switch s {
	case audit.Critical:
		return ansiRed
	case audit.Warning:
		return ansiYellow
	}
	return ansiCyan
}

// WriteTable renders findings grouped by severity (highest first) with columns SEVERITY,
// RULE, OBJECT, MESSAGE, then a summary line and what could not be checked.
func WriteTable(w io.Writer, rep *audit.Report, o Options) error {
	width := o.Width
	if width <= 0 {
		width = 120
	}
	if len(rep.Findings) > 0 {
		rows := make([][]string, 0, len(rep.Findings))
		var last audit.Severity
		for _, f := range rep.Findings {
			sev := ""
			if f.Severity != last {
				sev = paint(o.Color, severityColor(f.Severity), strings.ToUpper(f.Severity.String()))
				last = f.Severity
			}
			rows = append(rows, []string{sev, f.RuleID, shortRef(f.Object), f.Message})
		}
		if err := Columns(w, width, 34, []string{"SEVERITY", "RULE", "OBJECT", "MESSAGE"}, rows); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	s := rep.Summary
	fmt.Fprintln(w, summaryLine(s, o)+fmt.Sprintf(" (cluster %s, %s)", rep.Cluster, tableTime(rep)))
	if s.Critical+s.Warning+s.Info == 0 && s.Suppressed == 0 {
		fmt.Fprintln(w, "No storage problems found.")
	}
	writeUnchecked(w, rep, "", o)
	if rep.Cost != nil {
		fmt.Fprintln(w)
		return WriteCostTable(w, rep.Cost, o)
	}
	return nil
}

// summaryLine counts the findings by severity: "3 findings: 1 critical, 2 warning, 0
// info; 1 suppressed by annotation".
func summaryLine(s audit.Summary, o Options) string {
	total := s.Critical + s.Warning + s.Info
	noun := "findings"
	if total == 1 {
		noun = "finding"
	}
	line := fmt.Sprintf("%d %s: %s, %s, %s",
		total, noun,
		paint(o.Color && s.Critical > 0, ansiRed, fmt.Sprintf("%d critical", s.Critical)),
		paint(o.Color && s.Warning > 0, ansiYellow, fmt.Sprintf("%d warning", s.Warning)),
		fmt.Sprintf("%d info", s.Info))
	if s.Suppressed > 0 {
		line += fmt.Sprintf("; %d suppressed by annotation", s.Suppressed)
	}
	return line
}

func tableTime(rep *audit.Report) string {
	return rep.GeneratedAt.Format("2006-01-02 15:04:05Z07:00")
}

// writeUnchecked lists what rep could not check: kinds it could not read and rules it
// skipped, each line starting with indent.
func writeUnchecked(w io.Writer, rep *audit.Report, indent string, o Options) {
	for _, u := range rep.Unreadable {
		fmt.Fprintln(w, indent+paint(o.Color, ansiYellow, fmt.Sprintf("Could not read %s: %s", u.Kind, u.Reason)))
	}
	for _, sk := range rep.Skipped {
		fmt.Fprintln(w, indent+paint(o.Color, ansiDim, fmt.Sprintf("Skipped rule %s: %s", sk.Rule, sk.Reason)))
	}
}

// shortKinds are kubectl's short names, which keep the OBJECT column narrow.
var shortKinds = map[string]string{
	"PersistentVolume": "pv", "PersistentVolumeClaim": "pvc", "StorageClass": "sc",
	"StatefulSet": "sts", "Deployment": "deploy", "DaemonSet": "ds", "ReplicaSet": "rs",
	"Pod": "pod", "Node": "node", "CSINode": "csinode", "CSIDriver": "csidriver",
	"VolumeAttachment": "volumeattachment", "ResourceQuota": "quota", "Job": "job", "CronJob": "cj",
}

// shortRef renders an object as kubectl names it: pvc/ns/name, pv/name.
func shortRef(r audit.ObjectRef) string {
	k := shortKinds[r.Kind]
	if k == "" {
		k = strings.ToLower(r.Kind)
	}
	if r.Namespace == "" {
		return k + "/" + r.Name
	}
	return k + "/" + r.Namespace + "/" + r.Name
}
