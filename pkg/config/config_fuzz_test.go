package config_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/storage-auditor/auditor/pkg/config"
	"github.com/storage-auditor/auditor/pkg/rules/catalog"
)

// FuzzConfig feeds arbitrary bytes to the config decoder (Parse, which Load calls with
// the file's contents). The property: no panic, in Parse or in what the CLI calls on a
// parsed config; an error is one line that starts with the file name and, when it names
// a line, names one the input has.
//
// Without -fuzz it runs the seeds below, the shipped example configs and the committed
// corpus in testdata/fuzz/FuzzConfig. To fuzz for a while:
//
//	go test ./pkg/config -run '^$' -fuzz FuzzConfig -fuzztime 5m
func FuzzConfig(f *testing.F) {
	examples, err := filepath.Glob("../../config/*.yaml")
	if err != nil || len(examples) == 0 {
		f.Fatalf("no example configs in ../../config: %v", err)
	}
	for _, p := range examples {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, seed := range configSeeds {
		f.Add([]byte(seed))
	}
	known := catalog.All()
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := config.Parse("auditor.yaml", data, known)
		if err != nil {
			if why := badConfigError(err.Error(), data); why != "" {
				t.Fatalf("%s: %q", why, err)
			}
			return
		}
		// What run, serve and fix read from a parsed config.
		_ = c.Settings()
		_ = c.FixAllow()
		_ = c.FixMaxActions()
		_ = c.FixPodNodeMissingGrace()
		_ = c.File.Slack.AttachFormat()
	})
}

var (
	configLineRE = regexp.MustCompile(`^auditor\.yaml:(\d+): `)
	// goInternalsRE matches Go type names and runtime words a user should not see.
	goInternalsRE = regexp.MustCompile(`\b(config|cost|rules|audit|yaml)\.[A-Z]\w*|map\[string\]|\[\]interface|interface \{\}|Go (struct|value)|goroutine|panic`)
)

// badConfigError says what is wrong with a config error message, or "".
func badConfigError(msg string, input []byte) string {
	switch {
	case strings.Contains(msg, "\n"):
		return "error spans several lines"
	case !strings.HasPrefix(msg, "auditor.yaml:"):
		return "error does not start with the file name"
	case goInternalsRE.MatchString(msg):
		return "error shows Go internals (" + goInternalsRE.FindString(msg) + ")"
	}
	if m := configLineRE.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		// YAML breaks lines at \n, \r\n and a lone \r.
		lines := strings.Count(strings.ReplaceAll(string(input), "\r\n", "\n"), "\r") + strings.Count(string(input), "\n") + 1
		if n < 1 || n > lines {
			return "error names line " + m[1] + " of a " + strconv.Itoa(lines) + "-line input"
		}
	}
	return ""
}

// configSeeds are valid configs, the mistakes people make and inputs that are not YAML.
var configSeeds = []string{
	"minSeverity: warning\nfailOn: critical\nnamespaces: {include: [a], exclude: [b]}\n",
	"rules:\n  pv-released-retained:\n    enabled: false\n    severity: critical\n  pv-released-stuck:\n    params:\n      grace: 24h\n",
	"slack:\n  webhookURLEnv: SLACK_WEBHOOK\n  minSeverity: warning\n  onlyChanges: true\nstate:\n  configMap: ops/auditor-state\n",
	"slack:\n  botTokenEnv: SLACK_BOT_TOKEN\n  channel: '#storage'\n  attach: html\n",
	"cost:\n  currency: EUR\n  prices:\n  - storageClass: gp3\n    perGiBMonth: 0.08\n  - provisioner: disk.csi.azure.com\n    parameters: {skuName: Premium_LRS}\n    tiers: [{maxGiB: 32, monthly: 5.28}, {maxGiB: 64, monthly: 10.21}]\n  budgets:\n    cluster: {EUR: 100}\n    namespaces: {shop: {EUR: 10}}\n",
	"fix:\n  allow: [pv-released-retained]\n  maxActions: 3\n  podNodeMissingGrace: 15m\n",
	// Mistakes: unknown keys, unknown rules and params, wrong types, bad values.
	"minSeverity: warning\nrules:\n  pv-released-retained:\n    enabeld: false\n",
	"rules:\n  pv-released-retaind: {enabled: false}\n",
	"rules:\n  pv-released-stuck:\n    params:\n      grace: soon\n      nope: 1\n",
	"minSeverity: [warning]\n",
	"failOn: sometimes\n",
	"namespaces: shop\n",
	"namespaces:\n  include: {a: b}\n",
	"rules: [pv-released-retained]\n",
	"rules:\n  pv-released-retained:\n    enabled: maybe\n",
	"slack: true\n",
	"slack:\n  webhookURLEnv: 'https://hooks.slack.com/services/T/B/X'\n",
	"fix:\n  maxActions: -1\n  podNodeMissingGrace: -5m\n",
	"fix:\n  maxActions: 99999999999999999999999\n",
	"fix:\n  allow: [pv-nope]\n",
	"cost:\n  prices:\n  - perGiBMonth: -1\n",
	"cost:\n  prices:\n  - storageClass: a\n    tiers: [{maxGiB: 64, monthly: 2}, {maxGiB: 32, monthly: 1}]\n",
	"cost:\n  budgets:\n    cluster: {USD: -5}\n",
	"cost:\n  prices: {a: 1}\n",
	// Not a mapping, not YAML, several documents, anchors.
	"", "---\n", "null\n", "- a\n- b\n", "just a string\n", "42\n",
	"minSeverity: warning\n  failOn: none\n",
	"minSeverity: 'unterminated\n",
	"minSeverity: info\n---\nfailOn: none\n",
	"minSeverity: info\nminSeverity: warning\n",
	"\t minSeverity: info\n",
	"\x00\x01\x02\xff",
	"\xef\xbb\xbfminSeverity: info\n",
	"a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n",
	"rules:\n  ? [a, b]\n  : {enabled: false}\n",
	"rules:\n  pv-released-retained: &r {enabled: false}\n  pv-released-stuck: *r\n",
}
