// Package krew_test checks the krew plugin manifest template the way krew-release-bot
// and krew use it: rendered for a tag, then validated as krew validates plugins.
package krew_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/template"

	"gopkg.in/yaml.v3"
)

const tag = "v0.3.1"

// botFuncs are krew-release-bot's template functions. addURIAndSha renders the archive
// URL for the tag and returns "uri: ...\n    sha256: ..."; the bot downloads the archive
// for the digest, which a unit test cannot: the digest of the URL stands in, a well-formed
// sha256 that differs per archive.
var botFuncs = template.FuncMap{
	"addURIAndSha": func(url, tag string) (string, error) {
		t, err := template.New("url").Parse(url)
		if err != nil {
			return "", err
		}
		var b bytes.Buffer
		if err := t.Execute(&b, struct{ TagName string }{tag}); err != nil {
			return "", err
		}
		sum := sha256.Sum256(b.Bytes())
		return fmt.Sprintf("uri: %s\n    sha256: %s", b.String(), hex.EncodeToString(sum[:])), nil
	},
	// indent is the bot's: it drops addURIAndSha's historical 4-space sha256 indent and
	// indents every line after the first by spaces.
	"indent": func(spaces int, v string) string {
		v = strings.ReplaceAll(v, "    sha256:", "sha256:")
		pad := strings.Repeat(" ", spaces)
		return strings.TrimSpace(pad + strings.ReplaceAll(v, "\n", "\n"+pad))
	},
}

type plugin struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		Version          string `yaml:"version"`
		Homepage         string `yaml:"homepage"`
		ShortDescription string `yaml:"shortDescription"`
		Description      string `yaml:"description"`
		Caveats          string `yaml:"caveats"`
		Platforms        []struct {
			Selector struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
			URI    string `yaml:"uri"`
			Sha256 string `yaml:"sha256"`
			Files  []struct {
				From string `yaml:"from"`
				To   string `yaml:"to"`
			} `yaml:"files"`
			Bin string `yaml:"bin"`
		} `yaml:"platforms"`
	} `yaml:"spec"`
}

func TestKrewManifest(t *testing.T) {
	tpl, err := template.New("storage-audit.yaml").Funcs(botFuncs).ParseFiles("storage-audit.yaml")
	if err != nil {
		t.Fatalf("krew-release-bot could not parse the template: %v", err)
	}
	var out bytes.Buffer
	if err := tpl.Execute(&out, struct{ TagName string }{tag}); err != nil {
		t.Fatalf("rendering for %s: %v", tag, err)
	}
	var p plugin
	dec := yaml.NewDecoder(&out)
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("the rendered manifest is not a krew Plugin: %v\n%s", err, out.String())
	}

	// What krew validates (sigs.k8s.io/krew/pkg/index/validation).
	if p.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || p.Kind != "Plugin" {
		t.Errorf("apiVersion %q kind %q", p.APIVersion, p.Kind)
	}
	if p.Metadata.Name != "storage-audit" || !regexp.MustCompile(`^[\w-]+$`).MatchString(p.Metadata.Name) {
		t.Errorf("name %q", p.Metadata.Name)
	}
	if p.Spec.Version != tag || !regexp.MustCompile(`^v\d+\.\d+\.\d+`).MatchString(p.Spec.Version) {
		t.Errorf("version %q, want the tag %s", p.Spec.Version, tag)
	}
	if p.Spec.ShortDescription == "" || len(p.Spec.ShortDescription) > 60 || p.Spec.Description == "" {
		t.Errorf("short description %q (krew-index wants one under 60 characters) and a description", p.Spec.ShortDescription)
	}
	if !strings.HasPrefix(p.Spec.Homepage, "https://github.com/storage-auditor/") {
		t.Errorf("homepage %q: krew-release-bot checks ownership by the repository's URL", p.Spec.Homepage)
	}

	// kubectl finds `kubectl storage-audit` as the executable kubectl-storage_audit.
	bin := "kubectl-" + strings.ReplaceAll(p.Metadata.Name, "-", "_")
	var platforms []string
	for _, pl := range p.Spec.Platforms {
		goos, goarch := pl.Selector.MatchLabels["os"], pl.Selector.MatchLabels["arch"]
		where := goos + "/" + goarch
		platforms = append(platforms, where)
		if len(pl.Selector.MatchLabels) != 2 {
			t.Errorf("%s: selector %v, want os and arch only", where, pl.Selector.MatchLabels)
		}
		wantURI := fmt.Sprintf("https://github.com/storage-auditor/auditor/releases/download/%s/%s_%s_%s_%s.tar.gz", tag, bin, tag, goos, goarch)
		if pl.URI != wantURI {
			t.Errorf("%s: uri %s\nwant %s", where, pl.URI, wantURI)
		}
		if !regexp.MustCompile(`^[a-f0-9]{64}$`).MatchString(pl.Sha256) {
			t.Errorf("%s: sha256 %q", where, pl.Sha256)
		}
		if pl.Bin != bin || len(pl.Files) == 0 || pl.Files[0].From != bin {
			t.Errorf("%s: bin %q, files %+v; want %s installed", where, pl.Bin, pl.Files, bin)
		}
	}
	slices.Sort(platforms)
	if want := []string{"darwin/amd64", "darwin/arm64", "linux/amd64", "linux/arm64"}; !slices.Equal(platforms, want) {
		t.Errorf("platforms %v, want %v", platforms, want)
	}
}
