package rules

import (
	"fmt"
	"strings"
)

// Markdown renders a rule's documentation page: the header facts, then its Doc text.
// `auditor rules explain` prints it and docs/rules/<id>.md is generated from it.
func (r *Rule) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n%s\n\n", r.ID, r.Title)
	fmt.Fprintf(&b, "| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| default severity | %s |\n", r.Severity)
	fmt.Fprintf(&b, "| category | %s |\n", r.Category)
	fmt.Fprintf(&b, "| reads | %s |\n", kinds(r.Reads))
	if len(r.Optional) > 0 {
		fmt.Fprintf(&b, "| also uses, if present | %s |\n", kinds(r.Optional))
	}
	b.WriteString("\n")
	b.WriteString(strings.TrimSpace(r.Doc))
	b.WriteString("\n")
	if len(r.Params) > 0 {
		b.WriteString("\n## Parameters\n\n| name | type | default | meaning |\n|---|---|---|---|\n")
		for _, p := range r.Params {
			fmt.Fprintf(&b, "| `%s` | %s | `%s` | %s |\n", p.Name, p.Type, p.Default, p.Doc)
		}
		fmt.Fprintf(&b, "\nSet them in the config file:\n\n```yaml\nrules:\n  %s:\n    params:\n", r.ID)
		for _, p := range r.Params {
			fmt.Fprintf(&b, "      %s: %s\n", p.Name, p.Default)
		}
		b.WriteString("```\n")
	}
	if r.Category == Cost {
		// Budget findings are about a namespace or the cluster, objects the auditor does
		// not read, so there is nothing to annotate.
		fmt.Fprintf(&b, "\n## Suppressing\n\nRaise or remove the budget in the config file, or disable the rule "+
			"(`rules: {%s: {enabled: false}}`).\n", r.ID)
		return b.String()
	}
	fmt.Fprintf(&b, "\n## Suppressing\n\nAnnotate the object: `storage-auditor.dev/ignore: \"%s: <reason>\"` "+
		"(or `\"*\"` for every rule). Suppressed findings are counted in the report's summary.\n", r.ID)
	return b.String()
}

func kinds[K ~string](ks []K) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}
