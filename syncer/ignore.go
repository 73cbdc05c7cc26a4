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
	re *regexp.Regexp
	// glob, when set, is a path.Match pattern for the base name that
	// decides alone: most rules are unanchored names ("*.tmp"), and a
	// regexp run over the whole path for each of them costs more than
	// the stat of the file in a no-op rescan.
	glob    string
	pre     string // literal head and tail of glob: cheap refusals
	suf     string
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
	if !ci && !anchored {
		r.glob = baseGlob(strings.TrimPrefix(line, "**/"))
		if i := strings.IndexAny(r.glob, "*?["); i >= 0 {
			r.pre, r.suf = r.glob[:i], r.glob[strings.LastIndexAny(r.glob, "*?]")+1:]
		}
	}
	ig.rules = append(ig.rules, r)
}

// baseGlob returns g as a path.Match pattern for base names, or "" when g
// uses what path.Match does not mean the same way ("**", "{a,b}", escapes).
func baseGlob(g string) string {
	if g == "" || strings.ContainsAny(g, `/{}\`) || strings.Contains(g, "**") {
		return ""
	}
	g = strings.ReplaceAll(g, "[!", "[^")
	if _, err := path.Match(g, ""); err != nil {
		return ""
	}
	return g
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
	base := rel[strings.LastIndexByte(rel, '/')+1:]
	for _, r := range ig.rules {
		if r.dirOnly && !isDir || ignored != r.negate {
			continue // cannot change the outcome
		}
		var m bool
		if r.glob != "" {
			if len(base) >= len(r.pre)+len(r.suf) && strings.HasPrefix(base, r.pre) && strings.HasSuffix(base, r.suf) {
				m, _ = path.Match(r.glob, base)
			}
		} else {
			m = r.re.MatchString(rel)
		}
		if m {
			ignored = !r.negate
		}
	}
	return ignored
}
