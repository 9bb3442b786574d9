// Package stsresize grows the volumes of a StatefulSet: the manual procedure for a
// volumeClaimTemplate change (which the API server refuses in place) made safe. It
// refuses when the claims' class cannot really expand, patches every claim of the
// template and waits for the new capacity, deletes the StatefulSet with orphan
// propagation (pods and claims stay), re-creates it with the bigger template and
// everything else unchanged, and checks that it adopted the pods. If the re-creation
// fails, it re-creates the original.
//
// Decide is pure: it turns what was read (Inputs) and what was asked (Request) into a
// Plan or a *Refusal. Plan.Steps lists the work as named steps, which --dry-run prints
// and Execute runs.
package stsresize

import (
	"fmt"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/storage-auditor/auditor/pkg/snapshot"
)

// Request is what the user asked for.
type Request struct {
	Namespace, Name string
	// Template names the volumeClaimTemplate; "" picks the only one.
	Template string
	Size     resource.Quantity
	// Timeout bounds each wait: claims reaching Size, the StatefulSet going away, the
	// adoption of the pods.
	Timeout time.Duration
	// BackupDir receives the original and the resized manifest before the deletion.
	BackupDir string
}

// Inputs are the objects a decision is made from, read fresh from the API server (the
// StatefulSet and the namespace's claims and pods are used to re-create and compare, so
// they must not be snapshot-trimmed) plus a snapshot of the cluster for the class verdicts.
type Inputs struct {
	StatefulSet *appsv1.StatefulSet
	Claims      []*corev1.PersistentVolumeClaim // the StatefulSet's namespace
	Pods        []*corev1.Pod                   // the StatefulSet's namespace
	Evidence    *snapshot.Snapshot
}

// Refusal is a decision not to resize: nothing was changed.
type Refusal struct{ Reason string }

func (r *Refusal) Error() string { return r.Reason }

func refuse(format string, a ...any) error { return &Refusal{Reason: fmt.Sprintf(format, a...)} }

// ClaimPlan is one existing claim of the template.
type ClaimPlan struct {
	Name    string
	UID     types.UID
	Ordinal int
	// Live is true for ordinals in [ordinals.start, start+replicas); the others are
	// retained claims that a scale-up re-attaches.
	Live     bool
	Class    string
	Request  resource.Quantity
	Capacity resource.Quantity // zero when the claim reports none
	// Patch: the request is below the size. Wait: the capacity is (a patched claim, or one
	// already asking for the size whose expansion has not finished).
	Patch, Wait bool
}

// PodRef names a pod the StatefulSet controls; the new StatefulSet must adopt it.
type PodRef struct {
	Name string
	UID  types.UID
}

// Plan is a decided resize.
type Plan struct {
	Request
	// StatefulSet is the object as read when deciding; execution re-reads it and stops if
	// its spec (generation) or UID changed.
	StatefulSet *appsv1.StatefulSet
	Template    string
	// From is the template's current request.
	From resource.Quantity
	// Recreate: the template asks for less than Size, so the StatefulSet is orphan-deleted
	// and re-created. False when only claims lag behind the template.
	Recreate bool
	Claims   []ClaimPlan
	Pods     []PodRef
	// Notes are facts the user should know before confirming.
	Notes []string
	Helm  HelmRelease
}

// NothingToDo reports whether the template and every claim already have the size.
func (p *Plan) NothingToDo() bool {
	if p.Recreate {
		return false
	}
	for _, c := range p.Claims {
		if c.Patch || c.Wait {
			return false
		}
	}
	return true
}

// Decide checks the request against what was read and plans the resize, or refuses.
//
// Claims: every existing claim named <template>-<sts>-<ordinal> is resized, the live
// ordinals' and the retained ones' above or below the live range alike — a scale-up
// re-attaches a retained claim, and one left at the old size would bring back exactly
// the drift this command removes. Claims already at or above the size are left alone;
// claims being deleted are ignored (the controller would not re-attach them).
//
// Refused: a template or claim larger than the size (claims never shrink), a claim that
// is not Bound (only a Bound claim can be expanded), a claim whose class is missing or
// does not allow expansion (the API server would reject the patch), and a class or
// volume that cannot really expand — a provisioner known never to expand
// (snapshot.NonExpandingProvisioners), a hostPath/local/nfs volume
// (snapshot.NonExpandableSource), or whatever the rule sc-expansion-unsupported reports
// on the class (a CSI driver without external-resizer, classes whose volumes are all
// hostPath/local/nfs). When the cluster cannot tell (the rule is conservative), the plan
// goes ahead: a claim that never grows stops the workflow at the wait, before the
// StatefulSet is touched.
func Decide(in *Inputs, req Request) (*Plan, error) {
	st := in.StatefulSet
	ref := st.Namespace + "/" + st.Name
	if st.DeletionTimestamp != nil {
		return nil, refuse("StatefulSet %s is being deleted: wait until it is gone or re-created, then run again", ref)
	}
	if req.Size.Sign() <= 0 {
		return nil, refuse("--size %s: want a positive size such as 20Gi", req.Size.String())
	}
	tpl, err := pickTemplate(st, req.Template)
	if err != nil {
		return nil, err
	}
	from, ok := snapshot.ClaimRequest(tpl)
	if !ok {
		return nil, refuse("volumeClaimTemplate %q of StatefulSet %s has no storage request", tpl.Name, ref)
	}
	if from.Cmp(req.Size) > 0 {
		return nil, refuse("cannot resize StatefulSet %s: volumeClaimTemplate %q already requests %s, more than %s; volumes never shrink", ref, tpl.Name, from.String(), req.Size.String())
	}
	p := &Plan{Request: req, StatefulSet: st, Template: tpl.Name, From: from, Recreate: from.Cmp(req.Size) < 0}
	p.Request.Template = tpl.Name
	p.Helm = helmRelease(st)

	claims, err := templateClaims(in, st, tpl.Name, req.Size)
	if err != nil {
		return nil, err
	}
	p.Claims = claims
	verdicts := newClassJudge(in.Evidence)
	judged := map[string]bool{}
	for _, c := range claims {
		if !c.Patch && !c.Wait {
			continue
		}
		pvc := claimNamed(in.Claims, c.Name)
		if why := verdicts.claimBlocked(pvc); why != "" {
			return nil, refuse("cannot resize StatefulSet %s: claim %s cannot really be expanded: %s", ref, c.Name, why)
		}
		if pvc.Status.Phase != corev1.ClaimBound {
			return nil, refuse("cannot resize StatefulSet %s: claim %s is %s, and only a Bound claim can be expanded; bind or delete it first", ref, c.Name, orUnknown(string(pvc.Status.Phase)))
		}
		if !judged[c.Class] {
			judged[c.Class] = true
			if note := verdicts.classNote(c.Class); note != "" {
				p.Notes = append(p.Notes, note)
			}
		}
	}
	p.Pods = ownedPods(in.Pods, st)
	p.Notes = append(p.Notes, workloadNotes(st, p)...)
	return p, nil
}

// pickTemplate is snapshot.ClaimTemplate with its error as a refusal.
func pickTemplate(st *appsv1.StatefulSet, name string) (*corev1.PersistentVolumeClaim, error) {
	tpl, err := snapshot.ClaimTemplate(st, name)
	if err != nil {
		return nil, &Refusal{Reason: err.Error()}
	}
	return tpl, nil
}

// templateClaims returns the existing claims of template tpl, by ordinal. A claim larger
// than size is refused: the template would end up smaller than the claim.
func templateClaims(in *Inputs, st *appsv1.StatefulSet, tpl string, size resource.Quantity) ([]ClaimPlan, error) {
	var out []ClaimPlan
	for _, pvc := range in.Claims {
		n, ok := snapshot.StatefulSetOrdinal(pvc.Name, tpl, st.Name)
		if !ok || pvc.Namespace != st.Namespace || pvc.DeletionTimestamp != nil {
			continue
		}
		c := ClaimPlan{Name: pvc.Name, UID: pvc.UID, Ordinal: n, Live: snapshot.LiveOrdinal(st, n), Class: snapshot.ClaimClass(pvc)}
		c.Request, _ = snapshot.ClaimRequest(pvc)
		c.Capacity, _ = snapshot.ClaimCapacity(pvc)
		if c.Request.Cmp(size) > 0 {
			return nil, refuse("cannot resize StatefulSet %s/%s: claim %s already requests %s, more than %s; volumes never shrink, and a smaller template would drift from it: ask for at least %s",
				st.Namespace, st.Name, pvc.Name, c.Request.String(), size.String(), c.Request.String())
		}
		c.Patch = c.Request.Cmp(size) < 0
		c.Wait = c.Capacity.Cmp(size) < 0
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ordinal < out[j].Ordinal })
	return out, nil
}

func claimNamed(claims []*corev1.PersistentVolumeClaim, name string) *corev1.PersistentVolumeClaim {
	for _, c := range claims {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// ownedPods returns the pods the StatefulSet controls, by name.
func ownedPods(pods []*corev1.Pod, st *appsv1.StatefulSet) []PodRef {
	var out []PodRef
	for _, p := range pods {
		if ref := metav1.GetControllerOf(p); ref != nil && ref.UID == st.UID {
			out = append(out, PodRef{Name: p.Name, UID: p.UID})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// workloadNotes warns about whoever else manages the StatefulSet.
func workloadNotes(st *appsv1.StatefulSet, p *Plan) []string {
	var notes []string
	if !p.Recreate {
		return []string{fmt.Sprintf("the template already requests %s: only the claims are patched, the StatefulSet is not re-created", p.From.String())}
	}
	for _, o := range st.OwnerReferences {
		notes = append(notes, fmt.Sprintf("the StatefulSet is owned by %s %s, which is kept as its owner; if that controller manages the template it may put the old size back — change it there too", o.Kind, o.Name))
	}
	if gitops := gitOpsManager(st); gitops != "" {
		notes = append(notes, fmt.Sprintf("%s manages this StatefulSet: suspend its sync first, or it may re-create the old spec while the StatefulSet is gone", gitops))
	}
	if snapshot.WhenDeleted(st) == appsv1.DeletePersistentVolumeClaimRetentionPolicyType {
		notes = append(notes, "persistentVolumeClaimRetentionPolicy.whenDeleted is Delete: the deletion is an orphan deletion, so the claims stay (the garbage collector removes their owner references, the new StatefulSet sets them again)")
	}
	return notes
}

// gitOpsManager names the GitOps tool whose marks the StatefulSet carries, or "".
func gitOpsManager(st *appsv1.StatefulSet) string {
	switch {
	case st.Annotations["argocd.argoproj.io/tracking-id"] != "" || st.Labels["argocd.argoproj.io/instance"] != "":
		return "Argo CD"
	case st.Labels["kustomize.toolkit.fluxcd.io/name"] != "" || st.Labels["helm.toolkit.fluxcd.io/name"] != "":
		return "Flux"
	}
	return ""
}

func orUnknown(s string) string {
	if s == "" {
		return "in no phase yet"
	}
	return s
}
