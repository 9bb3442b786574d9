package cli

import (
	"strings"
	"testing"

	"github.com/storage-auditor/auditor/internal/ruledocs"

	"github.com/spf13/pflag"

	"github.com/storage-auditor/auditor/pkg/config"
	"github.com/storage-auditor/auditor/pkg/report"
	"github.com/storage-auditor/auditor/pkg/report/slack"
	"github.com/storage-auditor/auditor/pkg/rules"
	"github.com/storage-auditor/auditor/pkg/rules/catalog"
)

// TestSlackAttachment: --slack-attach chooses the attached report's format, the older
// --slack-attach-report still means json, and the config's slack.attach (or
// attachReport) applies when no flag says otherwise. Nothing is attached by default.
func TestSlackAttachment(t *testing.T) {
	t.Setenv(envWebhookURL, "")
	t.Setenv(envBotToken, "xoxb-test-token")
	eng, err := rules.NewEngine(catalog.All())
	if err != nil {
		t.Fatal(err)
	}
	bot := "slack:\n  botTokenEnv: SLACK_BOT_TOKEN\n  channel: '#storage'\n"
	cases := []struct {
		name   string
		args   []string
		config string
		want   report.Format
	}{
		{"default", []string{"--slack-channel", "#s"}, "", ""},
		{"html", []string{"--slack-channel", "#s", "--slack-attach", "html"}, "", report.HTML},
		{"json", []string{"--slack-channel", "#s", "--slack-attach", "json"}, "", report.JSON},
		{"old flag", []string{"--slack-channel", "#s", "--slack-attach-report"}, "", report.JSON},
		{"old flag agrees", []string{"--slack-channel", "#s", "--slack-attach-report", "--slack-attach", "json"}, "", report.JSON},
		{"config html", nil, bot + "  attach: html\n", report.HTML},
		{"config old key", nil, bot + "  attachReport: true\n", report.JSON},
		{"flag overrides config", []string{"--slack-attach", "none"}, bot + "  attach: html\n", ""},
		{"flag overrides old key", []string{"--slack-attach", "html"}, bot + "  attachReport: true\n", report.HTML},
		{"config none", nil, bot + "  attach: none\n", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var s slackFlags
			fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
			s.addFlags(fs)
			if err := fs.Parse(c.args); err != nil {
				t.Fatal(err)
			}
			a := &auditor{eng: eng}
			if c.config != "" {
				if a.cfg, err = config.Parse("c.yaml", []byte(c.config), catalog.All()); err != nil {
					t.Fatal(err)
				}
			}
			n, err := s.prepare(a)
			if err != nil {
				t.Fatal(err)
			}
			if n == nil {
				t.Fatal("no notifier")
			}
			if _, ok := n.sender.(*slack.Bot); !ok {
				t.Errorf("sender %T, want the bot", n.sender)
			}
			if n.attach != c.want {
				t.Errorf("attaches %q, want %q", n.attach, c.want)
			}
		})
	}
}

func TestSlackAttachmentUsageErrors(t *testing.T) {
	t.Setenv(envWebhookURL, "")
	t.Setenv(envBotToken, "xoxb-test-token")
	cases := []struct {
		args []string
		want string
	}{
		{demoArgs("--slack-channel", "#s", "--slack-attach", "pdf"), `--slack-attach: unknown value "pdf" (want none, json or html)`},
		{demoArgs("--slack-channel", "#s", "--slack-attach", "html", "--slack-attach-report"), "--slack-attach html contradicts --slack-attach-report"},
		{demoArgs("--slack-channel", "#s", "--slack-attach", "none", "--slack-attach-report"), "--slack-attach none contradicts --slack-attach-report"},
		{demoArgs("--slack-webhook-url", "https://hooks.slack.com/services/T/B/x", "--slack-attach", "html"), "--slack-attach html) needs a bot token and --slack-channel"},
		{demoArgs("--slack-attach", "json"), "no destination"},
	}
	for _, c := range cases {
		code, _, stderr := run(t, "", c.args...)
		if code != ExitError || !strings.Contains(stderr, c.want) || strings.Count(stderr, "\n") > 2 {
			t.Errorf("auditor %s: exit %d, stderr %q; want exit 2 mentioning %q", strings.Join(c.args, " "), code, stderr, c.want)
		}
	}
}

// TestReportRuleDocs: the HTML report gets every rule's title, action and doc.
func TestReportRuleDocs(t *testing.T) {
	all := catalog.All()
	docs := ruledocs.For(all)
	if len(docs) != len(all) {
		t.Fatalf("%d rule docs for %d rules", len(docs), len(all))
	}
	for _, r := range all {
		d := docs[r.ID]
		if d.Title != r.Title || d.Action != r.Action || d.Doc != r.Doc || d.Severity != r.Severity || d.Category != string(r.Category) {
			t.Errorf("%s: doc %+v does not match the rule", r.ID, d)
		}
	}
}
