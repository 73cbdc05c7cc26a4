package syncer

import (
	"bufio"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
)

// IgnoreFile is the per-folder ignore file at the folder root.
const IgnoreFile = ".bucketfsignore"

// DefaultIgnores are editor, OS and download temp files that never sync.
var DefaultIgnores = []string{
	"*~", ".*.sw?", "*.swp", "4913", ".#*", "#*#", "~$*", ".~lock.*#", ".goutputstream-*",
	"*.tmp", "*.part", "*.crdownload", ".DS_Store", "Thumbs.db", "desktop.ini",
	".*.tmp.*", "*.sync-tmp", ".syncthing.*", ".bucketfs-sync/", ".bucketfs-tmp-*",
	"*___jb_tmp___", "*___jb_old___", "*.kate-swp", "*.bak~",
}

// Ignorer matches relative slash paths against gitignore-like rules: the
// last matching rule wins (as in git), "!" re-includes, a leading "/"
// anchors at the root, a trailing "/" matches directories only, "**" spans
// directories, "(?i)" makes a rule case-insensitive.
type Ignorer struct {
	rules []ignoreRule
	// Source is the text the rules came from; its hash detects rule changes.
	Source string
}

type ignoreRule struct {
	re      *regexp.Regexp
	negate  bool
	dirOnly bool
}

// NewIgnorer compiles the default rules followed by lines.
func NewIgnorer(lines []string) *Ignorer {
	ig := &Ignorer{}
	all := append(append([]string{}, DefaultIgnores...), lines...)
	for _, l := range all {
		ig.add(l)
	}
	ig.Source = strings.Join(lines, "\n")
	return ig
}

// LoadIgnorer reads root/.bucketfsignore (missing = defaults only).
func LoadIgnorer(root string) (*Ignorer, error) {
	f, err := os.Open(filepath.Join(root, IgnoreFile))
	if os.IsNotExist(err) {
		return NewIgnorer(nil), nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return NewIgnorer(lines), sc.Err()
}

func (ig *Ignorer) add(line string) {
	line = strings.TrimRight(line, " \t\r")
	if line == "" || strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "#*") {
		return
	}
	r := ignoreRule{}
	if strings.HasPrefix(line, "!") {
		r.negate = true
		line = line[1:]
	}
	ci := false
	if strings.HasPrefix(line, "(?i)") {
		ci = true
		line = line[4:]
	}
	if strings.HasSuffix(line, "/") {
		r.dirOnly = true
		line = strings.TrimSuffix(line, "/")
	}
	anchored := strings.HasPrefix(line, "/") || strings.Contains(strings.TrimPrefix(line, "**/"), "/")
	line = strings.TrimPrefix(line, "/")
	var b strings.Builder
	if ci {
		b.WriteString("(?i)")
	}
	b.WriteString("^")
	if !anchored {
		b.WriteString("(?:.*/)?")
	}
	b.WriteString(globToRegexp(line))
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return
	}
	r.re = re
	ig.rules = append(ig.rules, r)
}

func globToRegexp(g string) string {
	var b strings.Builder
	for i := 0; i < len(g); i++ {
		c := g[i]
		switch c {
		case '*':
			if i+1 < len(g) && g[i+1] == '*' {
				i++
				if i+1 < len(g) && g[i+1] == '/' {
					i++
					b.WriteString("(?:.*/)?")
				} else {
					b.WriteString(".*")
				}
			} else {
				b.WriteString("[^/]*")
			}
		case '?':
			b.WriteString("[^/]")
		case '[':
			j := strings.IndexByte(g[i:], ']')
			if j < 0 {
				b.WriteString(`\[`)
				continue
			}
			cls := g[i+1 : i+j]
			if strings.HasPrefix(cls, "!") {
				cls = "^" + cls[1:]
			}
			b.WriteString("[" + cls + "]")
			i += j
		case '{':
			j := strings.IndexByte(g[i:], '}')
			if j < 0 {
				b.WriteString(`\{`)
				continue
			}
			alts := strings.Split(g[i+1:i+j], ",")
			for k := range alts {
				alts[k] = regexp.QuoteMeta(alts[k])
			}
			b.WriteString("(?:" + strings.Join(alts, "|") + ")")
			i += j
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	return b.String()
}

// Match reports whether rel (slash separated, relative to the root) is
// ignored. A path below an ignored directory is ignored too.
func (ig *Ignorer) Match(rel string, isDir bool) bool {
	if ig == nil {
		return false
	}
	// A parent directory that is ignored hides everything below it.
	if dir := path.Dir(rel); dir != "." && dir != "/" && ig.Match(dir, true) {
		return true
	}
	return ig.matchOne(rel, isDir)
}

// matchOne matches rel alone; the walker uses it since it never descends
// into ignored directories.
func (ig *Ignorer) matchOne(rel string, isDir bool) bool {
	if ig == nil {
		return false
	}
	ignored := false
	for _, r := range ig.rules {
		if r.dirOnly && !isDir {
			continue
		}
		if r.re.MatchString(rel) {
			ignored = !r.negate
		}
	}
	return ignored
}
