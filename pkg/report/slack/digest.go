// Package slack posts a digest of an audit report to Slack: a Block Kit message built from
// the report (Digest, a pure function) and two senders, an incoming webhook and a bot token
// with a channel, that share one retry policy and never let the webhook URL or the token
// into an error or a log line.
package slack

import (
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	slackapi "github.com/slack-go/slack"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/report"
)

// Slack's documented Block Kit limits. Slack rejects a message that exceeds one, so the
// digest summarises ("+N more") instead of listing everything.
const (
	maxBlocks       = 50    // blocks in one message
	maxSectionText  = 3000  // characters in a section's text (and a context element's)
	maxHeaderText   = 150   // characters in a header block
	maxMessageChars = 40000 // characters in the whole message: every text plus the fallback
)

// RuleInfo is what the digest says about a rule besides its ID: its title, and one line
// telling the reader what to do about its findings.
type RuleInfo struct {
	Title  string
	Action string
}

// DigestOptions choose what the digest lists. The zero value lists everything, up to the
// default caps.
type DigestOptions struct {
	// MinSeverity: findings below it are not listed; the counts still include them.
	// 0 means info (list all).
	MinSeverity audit.Severity
	// OnlyChanges: ShouldPost is false unless a finding (at or above MinSeverity) is new or
	// resolved, and only new findings are listed. Without run-to-run state (rep.Changes
	// nil) every finding counts as new.
	OnlyChanges bool
	// Rules gives titles and action lines by rule ID; a rule missing here shows its ID.
	Rules map[string]RuleInfo
	// Version is the auditor's version, shown in the last line.
	Version string
	// MaxRules caps the rules listed (default 15), MaxPerRule the objects listed under
	// each rule (default 5), MaxResolved the resolved findings listed (default 10). Slack's
	// limits may cap them lower; what is left out is counted as "+N more".
	MaxRules    int
	MaxPerRule  int
	MaxResolved int
}

func (o DigestOptions) withDefaults() DigestOptions {
	if o.MinSeverity < audit.Info {
		o.MinSeverity = audit.Info
	}
	if o.MaxRules <= 0 {
		o.MaxRules = 15
	}
	if o.MaxPerRule <= 0 {
		o.MaxPerRule = 5
	}
	if o.MaxResolved <= 0 {
		o.MaxResolved = 10
	}
	return o
}

// Message is a Slack message: Text is the plain fallback Slack shows in notifications and
// clients that cannot render blocks.
type Message struct {
	Text   string           `json:"text"`
	Blocks []slackapi.Block `json:"blocks"`
}

// ShouldPost reports whether rep is worth a message under o: always, unless o.OnlyChanges
// asks for news and no finding at or above o.MinSeverity is new or resolved.
func ShouldPost(rep *audit.Report, o DigestOptions) bool {
	o = o.withDefaults()
	if !o.OnlyChanges || rep.Changes == nil {
		return true
	}
	for _, f := range rep.Findings {
		if f.New && f.Severity >= o.MinSeverity {
			return true
		}
	}
	for _, f := range rep.Resolved {
		if f.Severity >= o.MinSeverity {
			return true
		}
	}
	return false
}

// Digest builds the message for rep: a header with the cluster and time, the counts by
// severity with what changed since the previous run, the cost, the findings grouped by
// rule (most severe first, new objects first), what was resolved, and the version. It
// stays within Slack's limits whatever the report holds.
func Digest(rep *audit.Report, o DigestOptions) Message {
	o = o.withDefaults()
	b := &builder{}
	b.add(slackapi.NewHeaderBlock(plain(headerText(rep))))
	b.add(section(summaryText(rep, o)))
	if rep.Cost != nil {
		b.add(section(costText(rep.Cost)))
	}
	groups := groupByRule(listed(rep, o))
	// A rule's count is all its findings at or above MinSeverity, also when only the new
	// ones are listed.
	totals := map[string]int{}
	for _, f := range rep.Findings {
		if f.Severity >= o.MinSeverity {
			totals[f.RuleID]++
		}
	}
	var tail []slackapi.Block
	if t := resolvedText(rep, o); t != "" {
		tail = append(tail, section(t))
	}
	tail = append(tail, slackapi.NewContextBlock("", mrkdwn(contextText(rep, o))))
	text := fallbackText(rep)

	if len(groups) > 0 {
		b.add(slackapi.NewDividerBlock())
		// What the rule sections may use: the blocks and characters left once the tail,
		// the fallback text and a "+N more" line are counted.
		const moreReserve = 200
		blocks := min(o.MaxRules, maxBlocks-len(b.blocks)-len(tail)-1)
		chars := maxMessageChars - b.chars - blocksChars(tail) - utf8.RuneCountInString(text) - moreReserve
		shown := 0
		for _, g := range groups {
			if shown == blocks {
				break
			}
			s := ruleText(g, totals[g.rule], o)
			n := utf8.RuneCountInString(s)
			if n > chars {
				break
			}
			b.add(section(s))
			chars -= n
			shown++
		}
		if rest := groups[shown:]; len(rest) > 0 {
			n := 0
			for _, g := range rest {
				n += len(g.findings)
			}
			b.add(section(fmt.Sprintf("+%d more %s in %d more %s not listed here: the full report has them",
				n, plural(n, "finding", "findings"), len(rest), plural(len(rest), "rule", "rules"))))
		}
	}
	for _, t := range tail {
		b.add(t)
	}
	return Message{Text: text, Blocks: b.blocks}
}

// builder collects blocks and counts their characters.
type builder struct {
	blocks []slackapi.Block
	chars  int
}

func (b *builder) add(bl slackapi.Block) {
	b.blocks = append(b.blocks, bl)
	b.chars += blocksChars([]slackapi.Block{bl})
}

// blocksChars counts the characters of the texts the digest's blocks hold.
func blocksChars(bs []slackapi.Block) int {
	n := 0
	for _, bl := range bs {
		switch v := bl.(type) {
		case *slackapi.HeaderBlock:
			n += utf8.RuneCountInString(v.Text.Text)
		case *slackapi.SectionBlock:
			n += utf8.RuneCountInString(v.Text.Text)
		case *slackapi.ContextBlock:
			for _, e := range v.ContextElements.Elements {
				if t, ok := e.(*slackapi.TextBlockObject); ok {
					n += utf8.RuneCountInString(t.Text)
				}
			}
		}
	}
	return n
}

func plain(s string) *slackapi.TextBlockObject {
	return slackapi.NewTextBlockObject(slackapi.PlainTextType, s, true, false)
}

func mrkdwn(s string) *slackapi.TextBlockObject {
	return slackapi.NewTextBlockObject(slackapi.MarkdownType, clip(s, maxSectionText), false, false)
}

func section(s string) *slackapi.SectionBlock {
	return slackapi.NewSectionBlock(mrkdwn(s), nil, nil)
}

func headerText(rep *audit.Report) string {
	suffix := ", " + when(rep.GeneratedAt)
	const prefix = "Storage audit: "
	room := maxHeaderText - utf8.RuneCountInString(prefix+suffix)
	return prefix + clip(oneLine(rep.Cluster), room) + suffix
}

func summaryText(rep *audit.Report, o DigestOptions) string {
	s := rep.Summary
	total := s.Critical + s.Warning + s.Info
	newBy, resolvedBy := map[audit.Severity]int{}, map[audit.Severity]int{}
	if rep.Changes != nil {
		for _, f := range rep.Findings {
			if f.New {
				newBy[f.Severity]++
			}
		}
		for _, f := range rep.Resolved {
			resolvedBy[f.Severity]++
		}
	}
	counts := map[audit.Severity]int{audit.Critical: s.Critical, audit.Warning: s.Warning, audit.Info: s.Info}
	parts := make([]string, 0, 3)
	for _, sev := range []audit.Severity{audit.Critical, audit.Warning, audit.Info} {
		p := fmt.Sprintf("%s *%d %s*", emoji(sev), counts[sev], sev)
		var delta []string
		if n := newBy[sev]; n > 0 {
			delta = append(delta, fmt.Sprintf("+%d new", n))
		}
		if n := resolvedBy[sev]; n > 0 {
			delta = append(delta, fmt.Sprintf("%d resolved", n))
		}
		if len(delta) > 0 {
			p += " (" + strings.Join(delta, ", ") + ")"
		}
		parts = append(parts, p)
	}
	lines := []string{fmt.Sprintf("*%d %s*: %s", total, plural(total, "finding", "findings"), strings.Join(parts, " · "))}
	if c := rep.Changes; c != nil {
		if c.Since.IsZero() {
			lines = append(lines, fmt.Sprintf("First run with saved state: *%d new*.", c.New))
		} else {
			lines = append(lines, fmt.Sprintf("Since the previous run (%s): *%d new*, *%d resolved*.", when(c.Since), c.New, c.Resolved))
		}
	}
	if s.Suppressed > 0 {
		lines = append(lines, fmt.Sprintf("%d suppressed by annotation.", s.Suppressed))
	}
	var partial []string
	if n := len(rep.Unreadable); n > 0 {
		partial = append(partial, fmt.Sprintf("%d %s could not be read", n, plural(n, "kind", "kinds")))
	}
	if n := len(rep.Skipped); n > 0 {
		partial = append(partial, fmt.Sprintf("%d %s skipped", n, plural(n, "rule was", "rules were")))
	}
	if len(partial) > 0 {
		lines = append(lines, ":warning: Partial audit: "+strings.Join(partial, ", ")+".")
	}
	var filters []string
	if o.MinSeverity > audit.Info {
		filters = append(filters, o.MinSeverity.String()+" and above")
	}
	if o.OnlyChanges && rep.Changes != nil {
		filters = append(filters, "new findings only")
	}
	if len(filters) > 0 {
		lines = append(lines, "_Listing "+strings.Join(filters, ", ")+"._")
	}
	if total == 0 {
		lines = append(lines, ":white_check_mark: No storage problems found.")
	}
	return strings.Join(lines, "\n")
}

// costText gives the monthly cost and waste per currency: amounts in different
// currencies are never added.
func costText(c *audit.Cost) string {
	currencies := map[string]bool{}
	for _, cur := range c.Monthly.Currencies() {
		currencies[cur] = true
	}
	for _, cur := range c.Waste.Currencies() {
		currencies[cur] = true
	}
	var cs []string
	for cur := range currencies {
		cs = append(cs, cur)
	}
	sort.Strings(cs)
	var parts []string
	for _, cur := range cs {
		total, waste := c.Monthly[cur], c.Waste[cur]
		p := money(total, cur) + " a month"
		if waste > 0 {
			p += ", of which " + money(waste, cur)
			if total > 0 {
				p += fmt.Sprintf(" (%.0f%%)", 100*waste/total)
			}
			p += " is waste"
		}
		parts = append(parts, p)
	}
	text := "*Storage cost*: "
	if len(parts) == 0 {
		text += "no volume has a price"
	} else {
		text += strings.Join(parts, "; ")
	}
	if c.Unpriced > 0 {
		text += fmt.Sprintf("\n_%d of %d volumes have no price and are not counted._", c.Unpriced, c.Volumes)
	}
	return text
}

// money formats an amount with thousands separators: 12,345.60 USD.
func money(v float64, currency string) string { return escape(audit.FormatMoney(v, currency)) }

// listed returns the findings the digest lists: at or above MinSeverity, and only the new
// ones with OnlyChanges (when state was kept).
func listed(rep *audit.Report, o DigestOptions) []audit.Finding {
	var out []audit.Finding
	for _, f := range rep.Findings {
		if f.Severity < o.MinSeverity || (o.OnlyChanges && rep.Changes != nil && !f.New) {
			continue
		}
		out = append(out, f)
	}
	return out
}

type ruleGroup struct {
	rule     string
	severity audit.Severity // the highest of its findings
	findings []audit.Finding
	newCount int
}

// groupByRule groups findings by rule, most severe rule first (then by ID), and puts each
// rule's new findings first; within that the report's order is kept.
func groupByRule(fs []audit.Finding) []*ruleGroup {
	byRule := map[string]*ruleGroup{}
	var groups []*ruleGroup
	for _, f := range fs {
		g := byRule[f.RuleID]
		if g == nil {
			g = &ruleGroup{rule: f.RuleID}
			byRule[f.RuleID] = g
			groups = append(groups, g)
		}
		g.severity = max(g.severity, f.Severity)
		g.findings = append(g.findings, f)
		if f.New {
			g.newCount++
		}
	}
	sort.SliceStable(groups, func(i, j int) bool {
		if groups[i].severity != groups[j].severity {
			return groups[i].severity > groups[j].severity
		}
		return groups[i].rule < groups[j].rule
	})
	for _, g := range groups {
		sort.SliceStable(g.findings, func(i, j int) bool { return g.findings[i].New && !g.findings[j].New })
	}
	return groups
}

// ruleText is one rule's section: the rule with its count of findings (total) and of new
// ones, the listed objects (up to MaxPerRule and what fits in a section), "+N more", and
// the action line.
func ruleText(g *ruleGroup, total int, o DigestOptions) string {
	info := o.Rules[g.rule]
	title := fmt.Sprintf("%s *%s*", emoji(g.severity), escape(oneLine(g.rule)))
	if info.Title != "" {
		title += " — " + escape(oneLine(info.Title))
	}
	count := fmt.Sprintf(" (%d", total)
	if g.newCount > 0 {
		count += fmt.Sprintf(", %d new", g.newCount)
	}
	count += ")"
	title = clip(title, 500) + count
	action := ""
	if info.Action != "" {
		action = "\n_Action:_ " + clip(escape(oneLine(info.Action)), 1000)
	}
	room := maxSectionText - utf8.RuneCountInString(title) - utf8.RuneCountInString(action) - len("\n• +100000 more")
	var lines []string
	for _, f := range g.findings {
		if len(lines) == o.MaxPerRule {
			break
		}
		l := "\n• `" + clip(escape(report.ShortRef(f.Object)), 300) + "`"
		if f.New {
			l += " :new:"
		}
		if n := utf8.RuneCountInString(l); n <= room {
			room -= n
			lines = append(lines, l)
		} else {
			break
		}
	}
	text := title + strings.Join(lines, "")
	if rest := len(g.findings) - len(lines); rest > 0 {
		text += fmt.Sprintf("\n• +%d more", rest)
	}
	return text + action
}

func resolvedText(rep *audit.Report, o DigestOptions) string {
	var fs []audit.Finding
	for _, f := range rep.Resolved {
		if f.Severity >= o.MinSeverity {
			fs = append(fs, f)
		}
	}
	if len(fs) == 0 {
		return ""
	}
	title := fmt.Sprintf(":white_check_mark: *Resolved since the previous run (%d)*", len(fs))
	room := maxSectionText - utf8.RuneCountInString(title) - len("\n• +100000 more")
	var lines []string
	for _, f := range fs {
		if len(lines) == o.MaxResolved {
			break
		}
		l := "\n• `" + clip(escape(report.ShortRef(f.Object)), 300) + "` — " + clip(escape(oneLine(f.RuleID)), 100)
		n := utf8.RuneCountInString(l)
		if n > room {
			break
		}
		room -= n
		lines = append(lines, l)
	}
	text := title + strings.Join(lines, "")
	if rest := len(fs) - len(lines); rest > 0 {
		text += fmt.Sprintf("\n• +%d more", rest)
	}
	return text
}

func contextText(rep *audit.Report, o DigestOptions) string {
	name := "storage-auditor"
	if o.Version != "" {
		name += " " + clip(escape(oneLine(o.Version)), 100)
	}
	return fmt.Sprintf("%s · cluster %s · %s", name, clip(escape(oneLine(rep.Cluster)), 500), when(rep.GeneratedAt))
}

// fallbackText is the plain line notifications show.
func fallbackText(rep *audit.Report) string {
	s := rep.Summary
	total := s.Critical + s.Warning + s.Info
	t := fmt.Sprintf("Storage audit of %s, %s: %d %s (%d critical, %d warning, %d info)",
		clip(escape(oneLine(rep.Cluster)), 500), when(rep.GeneratedAt), total, plural(total, "finding", "findings"), s.Critical, s.Warning, s.Info)
	if c := rep.Changes; c != nil {
		t += fmt.Sprintf("; %d new, %d resolved since the previous run", c.New, c.Resolved)
	}
	return t
}

func emoji(s audit.Severity) string {
	switch s {
	case audit.Critical:
		return ":red_circle:"
	case audit.Warning:
		return ":large_orange_circle:"
	}
	return ":large_blue_circle:"
}

func when(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// escape makes text literal in Slack mrkdwn, which gives &, < and > a meaning (links,
// mentions).
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// clip shortens s to at most n characters, ending with "…" when it cut, and never in the
// middle of an entity escape wrote (&amp;).
func clip(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)[:n-1]
	cut := string(r)
	if i := strings.LastIndexByte(cut, '&'); i >= 0 && !strings.Contains(cut[i:], ";") {
		cut = cut[:i]
	}
	return cut + "…"
}
