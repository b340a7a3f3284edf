// Package envflag declares command-line flags whose defaults come from environment
// variables, so that the example commands run the same way from a shell, a container or a
// process manager: a flag on the command line wins over the variable, which wins over the
// built-in default.
package envflag

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"
)

// Set wraps a flag.FlagSet and collects the errors of malformed environment values, which
// flag.FlagSet cannot report itself because defaults are not parsed.
type Set struct {
	*flag.FlagSet
	errs []error
}

// New returns a Set for a command; -h prints the usage and exits.
func New(name string) *Set {
	return &Set{FlagSet: flag.NewFlagSet(name, flag.ExitOnError)}
}

func usage(u, env string) string {
	if env == "" {
		return u
	}
	return fmt.Sprintf("%s (env %s)", u, env)
}

func (s *Set) lookup(env string) (string, bool) {
	if env == "" {
		return "", false
	}
	return os.LookupEnv(env)
}

// StringVar declares a string flag whose default is $env when set, else def. An empty env
// means the flag has no variable.
func (s *Set) StringVar(p *string, name, env, def, u string) {
	if v, ok := s.lookup(env); ok {
		def = v
	}
	s.FlagSet.StringVar(p, name, def, usage(u, env))
}

// IntVar declares an int flag whose default is $env when set, else def.
func (s *Set) IntVar(p *int, name, env string, def int, u string) {
	if v, ok := s.lookup(env); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			s.errs = append(s.errs, fmt.Errorf("$%s=%q: not an integer", env, v))
		} else {
			def = n
		}
	}
	s.FlagSet.IntVar(p, name, def, usage(u, env))
}

// DurationVar declares a duration flag ("4s", "500ms") whose default is $env when set,
// else def.
func (s *Set) DurationVar(p *time.Duration, name, env string, def time.Duration, u string) {
	if v, ok := s.lookup(env); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			s.errs = append(s.errs, fmt.Errorf("$%s=%q: not a duration", env, v))
		} else {
			def = d
		}
	}
	s.FlagSet.DurationVar(p, name, def, usage(u, env))
}

// BoolVar declares a bool flag whose default is $env when set, else def.
func (s *Set) BoolVar(p *bool, name, env string, def bool, u string) {
	if v, ok := s.lookup(env); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			s.errs = append(s.errs, fmt.Errorf("$%s=%q: not a boolean", env, v))
		} else {
			def = b
		}
	}
	s.FlagSet.BoolVar(p, name, def, usage(u, env))
}

// Parse parses args and reports malformed environment values, then unexpected positional
// arguments, as errors.
func (s *Set) Parse(args []string) error {
	if err := s.FlagSet.Parse(args); err != nil {
		return err
	}
	if len(s.errs) > 0 {
		return s.errs[0]
	}
	if s.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (every setting is a flag; see -h)", s.Arg(0))
	}
	return nil
}
