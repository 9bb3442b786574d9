package stsresize

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/storage-auditor/auditor/pkg/snapshot"
)

// Step is one named piece of the workflow. Describe is what --dry-run prints and what
// the progress output announces before the step runs.
type Step interface {
	Describe() string
	run(ctx context.Context, x *execution) error
}

// Steps lists the workflow in order: patch the claims that ask for less than the size,
// wait for every claim below the size, and — when the template changes — save the
// manifests, orphan-delete the StatefulSet, re-create it, and verify the adoption.
func (p *Plan) Steps() []Step {
	var steps []Step
	var waits []ClaimPlan
	for _, c := range p.Claims {
		if c.Patch {
			steps = append(steps, &patchClaim{plan: p, claim: c})
		}
		if c.Wait {
			waits = append(waits, c)
		}
	}
	if len(waits) > 0 {
		steps = append(steps, &waitCapacity{plan: p, claims: waits})
	}
	if p.Recreate {
		steps = append(steps, &backup{plan: p}, &orphanDelete{plan: p}, &recreate{plan: p}, &verifyAdoption{plan: p})
	}
	return steps
}

// Write prints the plan: what changes, the claims, the notes, the numbered steps and the
// follow-up. --dry-run prints exactly this; a real run prints it before asking.
func (p *Plan) Write(w io.Writer) {
	ref := p.Namespace + "/" + p.Name
	if p.NothingToDo() {
		fmt.Fprintf(w, "StatefulSet %s: volumeClaimTemplate %q and its %d claim(s) already have %s; nothing to do.\n", ref, p.Template, len(p.Claims), p.Size.String())
		return
	}
	if p.Recreate {
		fmt.Fprintf(w, "StatefulSet %s: volumeClaimTemplate %q %s → %s\n", ref, p.Template, p.From.String(), p.Size.String())
	} else {
		fmt.Fprintf(w, "StatefulSet %s: volumeClaimTemplate %q already requests %s; claims below it are expanded\n", ref, p.Template, p.Size.String())
	}
	fmt.Fprintf(w, "\nClaims of %q (live ordinals %s):\n", p.Template, snapshot.OrdinalRange(p.StatefulSet))
	if len(p.Claims) == 0 {
		fmt.Fprintln(w, "  none yet: new claims are created at the template's size")
	} else {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  CLAIM\tORDINAL\tCLASS\tREQUEST\tCAPACITY\tACTION")
		for _, c := range p.Claims {
			ord := fmt.Sprint(c.Ordinal)
			if !c.Live {
				ord += " (retained)"
			}
			capa := "unknown"
			if !c.Capacity.IsZero() {
				capa = c.Capacity.String()
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", c.Name, ord, c.Class, c.Request.String(), capa, c.action(p.Size.String()))
		}
		tw.Flush()
	}
	if len(p.Notes) > 0 {
		fmt.Fprintln(w, "\nNotes:")
		for _, n := range p.Notes {
			fmt.Fprintf(w, "  - %s\n", n)
		}
	}
	fmt.Fprintln(w, "\nSteps:")
	for i, s := range p.Steps() {
		fmt.Fprintf(w, "  %d. %s\n", i+1, s.Describe())
	}
	fmt.Fprintf(w, "\nAfterwards: %s\n", p.FollowUp())
}

func (c ClaimPlan) action(size string) string {
	switch {
	case c.Patch:
		return "patch to " + size + ", wait"
	case c.Wait:
		return "wait (already requests " + c.Request.String() + ")"
	}
	return "none (already " + size + ")"
}

type patchClaim struct {
	plan  *Plan
	claim ClaimPlan
}

func (s *patchClaim) Describe() string {
	return fmt.Sprintf("patch claim %s: spec.resources.requests.storage %s → %s", s.claim.Name, s.claim.Request.String(), s.plan.Size.String())
}

type waitCapacity struct {
	plan   *Plan
	claims []ClaimPlan
}

func (s *waitCapacity) Describe() string {
	return fmt.Sprintf("wait until %s %s %s (status.capacity, or the control plane done with FileSystemResizePending), at most %s; on timeout stop here, before the StatefulSet is touched",
		claimNames(s.claims), verb(len(s.claims), "reports", "report"), s.plan.Size.String(), duration(s.plan.Timeout))
}

type backup struct{ plan *Plan }

func (s *backup) Describe() string {
	return fmt.Sprintf("re-read StatefulSet %s/%s (stop if its spec changed since this plan) and save its manifest, original and resized, to %s",
		s.plan.Namespace, s.plan.Name, s.plan.BackupDir)
}

type orphanDelete struct{ plan *Plan }

func (s *orphanDelete) Describe() string {
	return fmt.Sprintf("delete StatefulSet %s/%s with propagationPolicy Orphan (pods and claims stay; until the next step nothing re-creates a failed pod) and wait until the garbage collector has removed it, at most %s",
		s.plan.Namespace, s.plan.Name, duration(s.plan.Timeout))
}

type recreate struct{ plan *Plan }

func (s *recreate) Describe() string {
	return fmt.Sprintf("create StatefulSet %s/%s again with volumeClaimTemplate %q at %s and everything else as before (selector, serviceName, podManagementPolicy, labels, annotations, ownerReferences); if the API server refuses it, re-create the original",
		s.plan.Namespace, s.plan.Name, s.plan.Template, s.plan.Size.String())
}

type verifyAdoption struct{ plan *Plan }

func (s *verifyAdoption) Describe() string {
	pods := "no pods exist now; none to adopt"
	if len(s.plan.Pods) > 0 {
		names := make([]string, len(s.plan.Pods))
		for i, p := range s.plan.Pods {
			names[i] = p.Name
		}
		pods = "the new StatefulSet adopts pod(s) " + strings.Join(names, ", ")
	}
	claims := "no claims to check"
	if len(s.plan.Claims) > 0 {
		claims = claimNames(s.plan.Claims) + verb(len(s.plan.Claims), " is still the same object", " are still the same objects")
	}
	return fmt.Sprintf("verify: %s; %s, at most %s", pods, claims, duration(s.plan.Timeout))
}

func claimNames(cs []ClaimPlan) string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Name
	}
	if len(names) == 1 {
		return "claim " + names[0]
	}
	return "claims " + strings.Join(names, ", ")
}

// verb picks the singular or plural form for n subjects.
func verb(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// duration prints 10m rather than 10m0s, 1h rather than 1h0m0s.
func duration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
