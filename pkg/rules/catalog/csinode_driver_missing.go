package catalog

import (
	"fmt"
	"strconv"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/rules"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

var csinodeDriverMissing = &rules.Rule{
	ID:       "csinode-driver-missing",
	Title:    "Node uses a CSI driver whose node plugin is not registered",
	Action:   "Check the CSI driver's node DaemonSet pod on the node and its node-driver-registrar logs",
	Severity: audit.Critical,
	Category: rules.Configuration,
	Reads: []snapshot.Kind{snapshot.Nodes, snapshot.CSINodes, snapshot.VolumeAttachments, snapshot.Pods,
		snapshot.PersistentVolumeClaims, snapshot.PersistentVolumes},
	Params: []rules.Param{{Name: "grace", Type: rules.Duration, Default: "5m",
		Doc: "nodes younger than this are not judged (their CSI node plugins may still be starting)"}},
	Doc: `When a CSI driver's node plugin (usually a DaemonSet pod with the ` + "`node-driver-registrar`" + `
sidecar) starts on a node, the kubelet adds the driver to the node's ` + "`CSINode`" + ` object, with
its node ID, topology keys and attach limit. A node that has VolumeAttachments for driver D, or
runs pods whose claims are bound to PVs of D (CSI, or in-tree migrated to D), while its CSINode
has **no entry for D** — or the node has no CSINode at all — has no working plugin for D.

**Why it matters.** Mounts of D's volumes on that node fail (` + "`driver name D not found in the list of registered CSI drivers`" + `),
the attacher cannot find the node ID, and the scheduler ignores D's attach limit there, so it
keeps sending pods with D volumes to a node that cannot serve them.

Only nodes that exist are judged (VolumeAttachments of deleted nodes are ` + "`va-orphaned`" + `'s
business) and nodes younger than ` + "`grace`" + ` (default 5m) are skipped while their plugins start.
A plugin that is restarting (rolling update of its DaemonSet) is briefly unregistered too.

**How to fix by hand.**
- Find the plugin pod on the node: ` + "`kubectl get pods -A -o wide --field-selector spec.nodeName=<node> | grep -i csi`" + `.
- None: check the DaemonSet's nodeSelector/tolerations against the node's labels and taints
  (` + "`kubectl get ds -A | grep -i csi`" + `, ` + "`kubectl describe node <node>`" + `).
- Crash-looping or not registering: ` + "`kubectl logs -n <ns> <plugin-pod> -c node-driver-registrar`" + `
  and the driver container; the kubelet log says why registration failed.
- Check the result: ` + "`kubectl get csinode <node> -o yaml`" + ` must list the driver.`,
	Check: func(p *rules.Pass) error {
		snap := p.Snapshot
		grace := p.Duration("grace")
		nodes := map[string]bool{}
		for _, n := range snap.NodeNamesWithAttachments() {
			nodes[n] = true
		}
		for _, n := range snap.NodeNamesWithPods() {
			nodes[n] = true
		}
		for _, name := range sortedMapKeys(nodes) {
			node := snap.Node(name)
			if node == nil {
				continue
			}
			age := snapshot.CreationAge(node)
			if age.Duration(p.Now) < grace {
				continue
			}
			cn := snap.CSINode(name)
			byDriver := nodeCSIVolumes(snap, name)
			for _, driver := range sortedMapKeys(byDriver) {
				if cn != nil && snapshot.CSINodeDriver(cn, driver) != nil {
					continue
				}
				vols := sortedMapKeys(byDriver[driver])
				d := map[string]string{
					"driver":    driver,
					"volumes":   joinFirstN(vols, 8),
					"count":     strconv.Itoa(len(vols)),
					"nodeReady": snapshot.NodeReady(node),
				}
				if d["nodeReady"] == "" {
					d["nodeReady"] = "no Ready condition"
				}
				addAge(d, "nodeAge", age, p.Now)
				var msg string
				if cn == nil {
					d["csiNode"] = "missing"
					msg = fmt.Sprintf("node %s uses %d volume(s) of CSI driver %s but has no CSINode object at all: no CSI node plugin has registered there, so these volumes cannot be mounted and the scheduler ignores the attach limit; check the driver's node DaemonSet pod on %s and its node-driver-registrar logs",
						name, len(vols), driver, name)
				} else {
					var registered []string
					for _, dr := range cn.Spec.Drivers {
						registered = append(registered, dr.Name)
					}
					d["csiNode"] = "registered drivers: " + joinOrNone(registered)
					msg = fmt.Sprintf("node %s uses %d volume(s) of CSI driver %s but its CSINode has no entry for it: the driver's node plugin is not registered there, so these volumes cannot be mounted and the scheduler ignores the attach limit; check the driver's node DaemonSet pod on %s and its node-driver-registrar logs",
						name, len(vols), driver, name)
				}
				p.Report(audit.Finding{Object: rules.Ref(snapshot.Nodes, node), Message: msg, Details: d, Fact: driver})
			}
		}
		return nil
	},
}
