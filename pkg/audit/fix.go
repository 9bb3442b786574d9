package audit

import (
	"fmt"
	"strings"
	"time"
)

// Safety classes a fix by the worst that applying it can do. `auditor run --fix` applies
// safe fixes; the others need to be allowed explicitly. The zero value is invalid, as for
// Severity, so a rule that forgets to classify a fix is caught by the tests.
type Safety int

const (
	// Safe fixes are reversible, touch no data and restart nothing.
	Safe Safety = iota + 1
	// Disruptive fixes restart pods.
	Disruptive
	// Destructive fixes delete objects or data.
	Destructive
)

// Safeties lists the safety classes from the mildest to the most dangerous.
var Safeties = []Safety{Safe, Disruptive, Destructive}

func (s Safety) String() string {
	switch s {
	case Safe:
		return "safe"
	case Disruptive:
		return "disruptive"
	case Destructive:
		return "destructive"
	}
	return fmt.Sprintf("Safety(%d)", int(s))
}

// ParseSafety accepts the lower-case names used in flags and the report.
func ParseSafety(s string) (Safety, error) {
	for _, v := range Safeties {
		if strings.EqualFold(s, v.String()) {
			return v, nil
		}
	}
	return 0, fmt.Errorf("unknown safety class %q (want safe, disruptive or destructive)", s)
}

// MarshalText makes safety classes appear as their names in JSON and YAML.
func (s Safety) MarshalText() ([]byte, error) {
	if s < Safe || s > Destructive {
		return nil, fmt.Errorf("invalid safety class %d", int(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText is the inverse of MarshalText.
func (s *Safety) UnmarshalText(b []byte) error {
	v, err := ParseSafety(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Annotations and names the fixes write. They are part of the contract: `auditor fix
// release-pv` finds its reservations by them, and people search clusters for them.
const (
	// FixedByAnnotation marks an object a fix changed: "<rule>@<RFC 3339 time>".
	FixedByAnnotation = "storage-auditor.dev/fixed-by"
	// ReservedForAnnotation records, on a PV reserved by the pv-available-unreserved fix,
	// the placeholder claim ("namespace/name") its claimRef names.
	ReservedForAnnotation = "storage-auditor.dev/reserved-for"
	// PreviousAllowVolumeExpansionAnnotation keeps a StorageClass's allowVolumeExpansion
	// from before the sc-expansion-unsupported fix turned it off.
	PreviousAllowVolumeExpansionAnnotation = "storage-auditor.dev/previous-allow-volume-expansion"
	// ReservedNamespace is the namespace of the placeholder claims reserved PVs point at.
	// Nothing creates it: a claimRef naming a claim that does not exist keeps a PV
	// Available but bindable by that claim only, which is none.
	ReservedNamespace = "storage-auditor-reserved"
	// RestartedAtAnnotation is the pod-template annotation `kubectl rollout restart` sets.
	RestartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"
	// MergePatch is the patch type of FixPatch: an RFC 7386 JSON merge patch.
	MergePatch = "merge"
)

// Fix is a change a rule proposes for its finding: data only (rules cannot reach the
// API). pkg/fix plans, prints and applies fixes; the report carries them so a person (or
// the HTML report) can see what --fix would do and the kubectl line that does the same.
type Fix struct {
	// Action names what the fix does (reserve-pv, disable-expansion, raise-claim-request,
	// rollout-restart, delete-claim-and-pv, force-delete-pod). The applier re-checks the
	// finding's condition per action before changing anything.
	Action string `json:"action"`
	Safety Safety `json:"safety"`
	// Description says, in a sentence or two, what changes and what it means.
	Description string `json:"description"`
	// Steps are the API requests, in order; a step runs only when the one before it
	// succeeded.
	Steps []FixStep `json:"steps"`
	// Unchanged lists the objects besides the steps' targets that the fix was decided on
	// (the StatefulSet whose ordinals make a claim a leftover, the claim whose pending
	// resize makes a restart useful). Applying re-reads them and skips the fix when one
	// was re-created or changed since the audit.
	Unchanged []FixTarget `json:"unchanged,omitempty"`
	// Wait, when set, holds the fix back until the evidence it names is old enough: the
	// fix policy says how old (a StatefulSet pod is force-deleted only once its node has
	// been gone longer than a grace period).
	Wait *FixWait `json:"wait,omitempty"`
	// Kubectl is the equivalent command a person could run instead.
	Kubectl string `json:"kubectl"`
}

// FixTarget names an object as the audit saw it: its reference (with UID) and the
// resourceVersion read. Applying changes it only while both are still the same.
type FixTarget struct {
	ObjectRef
	ResourceVersion string `json:"resourceVersion,omitempty"`
}

// FixStep is one API request: a patch or a delete of Target.
type FixStep struct {
	Target FixTarget  `json:"target"`
	Patch  *FixPatch  `json:"patch,omitempty"`
	Delete *FixDelete `json:"delete,omitempty"`
	// ChangedByPrevious marks a step whose target the step before it changes on purpose
	// (deleting a claim makes the PV controller release its volume): its resourceVersion
	// is re-read after that step instead of compared with the audit's, and its UID and the
	// action's condition are checked again.
	ChangedByPrevious bool `json:"changedByPrevious,omitempty"`
}

// FixPatch is a patch of the target. Data is the patch document; applying adds the
// target's resourceVersion (so a concurrent write fails instead of being overwritten)
// and the fixed-by annotation.
type FixPatch struct {
	Type string `json:"type"` // MergePatch
	Data string `json:"data"`
}

// FixDelete deletes the target, with its UID and resourceVersion as preconditions.
type FixDelete struct {
	// GracePeriodSeconds overrides the object's grace period (0: force delete a pod).
	GracePeriodSeconds *int64 `json:"gracePeriodSeconds,omitempty"`
}

// FixWait is the evidence a held-back fix waits on.
type FixWait struct {
	// For says what is waited for, e.g. "node aks-pool1-3 to have been gone long enough".
	For string `json:"for"`
	// Since is the earliest evidence of it (nil when there is none: then only run-to-run
	// state, the finding's firstSeen, can date it).
	Since *time.Time `json:"since,omitempty"`
	// Source names the timestamp Since was read from.
	Source string `json:"source,omitempty"`
}
