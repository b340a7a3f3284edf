package zkrecipes

import (
	"fmt"
	"strings"
)

// ValidatePath reports whether p is a path ZooKeeper accepts: absolute, without a
// trailing slash (unless it is "/"), without empty, "." or ".." elements and without NUL
// characters. The error wraps ErrInvalidPath and names the path and the problem.
func ValidatePath(p string) error {
	bad := func(why string) error { return fmt.Errorf("%w %q: %s", ErrInvalidPath, p, why) }
	switch {
	case p == "":
		return bad("empty")
	case p[0] != '/':
		return bad("must start with /")
	case p == "/":
		return nil
	case strings.HasSuffix(p, "/"):
		return bad("must not end with /")
	case strings.ContainsRune(p, 0):
		return bad("contains a NUL character")
	}
	for rest := p[1:]; ; {
		el, after, more := strings.Cut(rest, "/")
		switch el {
		case "":
			return bad("contains an empty element")
		case ".", "..":
			return bad("contains a relative element " + el)
		}
		if !more {
			return nil
		}
		rest = after
	}
}

// JoinPath joins path elements with "/" into an absolute path, ignoring empty elements
// and stray slashes: JoinPath("/a/", "b", "/c") is "/a/b/c" and JoinPath() is "/".
func JoinPath(elems ...string) string {
	var b strings.Builder
	for _, e := range elems {
		for _, part := range strings.Split(e, "/") {
			if part != "" {
				b.WriteByte('/')
				b.WriteString(part)
			}
		}
	}
	if b.Len() == 0 {
		return "/"
	}
	return b.String()
}

// SplitPath returns the parent and the last element of an absolute path:
// SplitPath("/a/b") is ("/a", "b") and SplitPath("/a") is ("/", "a").
func SplitPath(p string) (parent, name string) {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "/", p
	}
	if i == 0 {
		return "/", p[1:]
	}
	return p[:i], p[i+1:]
}

// normalizeNamespace joins namespace parts (a chroot, a namespace) into one server path
// prefix: ("", "a") and ("/a/", "") give "/a", ("/a", "b/c") gives "/a/b/c", no parts "".
func normalizeNamespace(parts ...string) (string, error) {
	var trimmed []string
	for _, p := range parts {
		if p = strings.Trim(p, "/"); p != "" {
			trimmed = append(trimmed, p)
		}
	}
	if len(trimmed) == 0 {
		return "", nil
	}
	full := "/" + strings.Join(trimmed, "/")
	if err := ValidatePath(full); err != nil {
		return "", fmt.Errorf("namespace: %w", err)
	}
	return full, nil
}

// fullPath maps a namespace-relative path to the server path.
func (c *Client) fullPath(p string) string {
	if c.ns == "" {
		return p
	}
	if p == "/" {
		return c.ns
	}
	return c.ns + p
}

// relPath maps a server path back to a namespace-relative one.
func (c *Client) relPath(p string) string {
	if c.ns == "" {
		return p
	}
	if p == c.ns {
		return "/"
	}
	return strings.TrimPrefix(p, c.ns)
}
