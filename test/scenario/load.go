package scenario

import (
	"context"
	"fmt"

	"github.com/storage-auditor/auditor/test/controlplane"
)

// Namespaces the full scenario uses, one per incident.
const (
	NSRetain   = "shop"      // a: retained ordinal, Released Retain PV, then a freed (Available) PV
	NSExpand   = "web"       // b: local-path resize nobody performs
	NSCapacity = "billing"   // c: PV capacity edited by hand
	NSDrift    = "cache"     // d: template drift after orphan-delete + re-create
	NSGhost    = "streaming" // e: pod on a deleted node
	NSAttach   = "ci"        // f: node at its CSI attach limit
)

// Load builds every incident, leaving the Available-PV trap armed (the freed PV waits for
// the StatefulSet's next scale-up), so `auditor run` shows all of them.
func Load(ctx context.Context, e *Env) error {
	if err := e.Setup(ctx); err != nil {
		return err
	}
	for _, ns := range []string{NSRetain, NSExpand, NSCapacity, NSDrift, NSGhost, NSAttach} {
		if err := controlplane.EnsureNamespace(ctx, e.CS, ns); err != nil {
			return fmt.Errorf("namespace %s: %w", ns, err)
		}
	}
	r, err := e.RetainScaleDown(ctx, NSRetain)
	if err != nil {
		return err
	}
	// Another Released PV to "free": ordinal 1's claim stays retained, so free a second
	// volume released the same way would need another scale-down; freeing the one above
	// is the documented mistake.
	// Keep the first released volume Released; "free" the second, the documented mistake
	// that arms the trap for web's next scale-up.
	if err := e.FreeReleasedPV(ctx, r.ReleasedPVs[1]); err != nil {
		return err
	}
	if _, err := e.LocalPathResize(ctx, NSExpand); err != nil {
		return err
	}
	if _, err := e.PVCapacityEdit(ctx, NSCapacity); err != nil {
		return err
	}
	if _, err := e.TemplateDrift(ctx, NSDrift); err != nil {
		return err
	}
	if _, err := e.PodOnDeletedNode(ctx, NSGhost); err != nil {
		return err
	}
	_, err = e.AttachLimit(ctx, NSAttach)
	return err
}
