package catalog

import (
	"fmt"
	"strings"
	"time"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/rules"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

var scDefaultConflict = &rules.Rule{
	ID:       "sc-default-conflict",
	Title:    "More than one StorageClass is marked default",
	Action:   "Keep one default StorageClass; set is-default-class to \"false\" on the others",
	Severity: audit.Warning,
	Category: rules.Configuration,
	Reads:    []snapshot.Kind{snapshot.StorageClasses},
	Doc: `Several StorageClasses carry ` + "`storageclass.kubernetes.io/is-default-class: \"true\"`" + ` (or the
beta ` + "`storageclass.beta.kubernetes.io/is-default-class`" + `). Each of them is reported.

**Why it matters.** Claims without ` + "`storageClassName`" + ` get the default class. Since
Kubernetes 1.26 the DefaultStorageClass admission plugin then picks the most recently
created default (ties broken by name), so installing any chart that marks its class default
silently changes where new volumes go (other disk type, other reclaim policy, no expansion).
Before 1.26 such claims were rejected outright. Typical cause: a managed cluster's own
default (gp2, standard, managed-csi) plus one installed later (gp3, longhorn, local-path).

**How to fix by hand.** Keep one default and unmark the others:
` + "`kubectl get storageclass`" + ` (defaults show "(default)"), then for each class that should not be
the default:
` + "`kubectl patch storageclass <class> -p '{\"metadata\":{\"annotations\":{\"storageclass.kubernetes.io/is-default-class\":\"false\"}}}'`" + `
(use the beta annotation's name if that is the one set). If a Helm chart or the cloud's
addon manager owns the class, change it there or the mark comes back.`,
	Check: func(p *rules.Pass) error {
		// In the admission plugin's order (1.26+): newest creationTimestamp, then name.
		defaults := snapshot.DefaultStorageClasses(p.Snapshot.StorageClasses)
		if len(defaults) < 2 {
			return nil
		}
		winner := defaults[0]
		names := make([]string, len(defaults))
		for i, sc := range defaults {
			names[i] = sc.Name
		}
		for _, sc := range defaults {
			ann := snapshot.DefaultClassAnnotationSet(sc)
			d := map[string]string{
				"provisioner":    sc.Provisioner,
				"annotation":     ann,
				"defaultClasses": strings.Join(names, ", "),
				"chosenDefault":  winner.Name,
				"created":        sc.CreationTimestamp.UTC().Format(time.RFC3339),
			}
			others := make([]string, 0, len(names)-1)
			for _, n := range names {
				if n != sc.Name {
					others = append(others, n)
				}
			}
			role := fmt.Sprintf("claims without a class get %s (the newest default) on Kubernetes 1.26+", winner.Name)
			if sc == winner {
				role = "claims without a class get this one (the newest default) on Kubernetes 1.26+"
			}
			p.Report(audit.Finding{
				Object: rules.Ref(snapshot.StorageClasses, sc),
				Message: fmt.Sprintf("StorageClass %s is marked default (%s) together with %s: %s; keep one default and set the is-default-class annotation to \"false\" on the others",
					sc.Name, ann, strings.Join(others, ", "), role),
				Details: d,
			})
		}
		return nil
	},
}
