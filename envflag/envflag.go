// Package envflag reads a program's settings from environment variables and
// command-line flags described by one table of Vars, in one order: defaults
// (the values the bound variables hold before Parse), then the environment,
// then the flags, so that a flag wins over its variable.
//
// A variable that is set counts, even when it is set to the empty string:
// NAME= is the same as --flag= and is handed to the setting's Value, which
// decides what empty means (an empty string for a String, which may disable
// something; an error for a number, a duration or a boolean). Only a variable
// that is not set at all leaves the default. Parse reports every bad
// variable at once, with the flag error if there is one.
//
// The package reads no environment itself: callers pass a lookup function
// with os.LookupEnv's signature.
package envflag

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Var binds one setting to a flag, an environment variable, or both.
type Var struct {
	// Flag is the flag's name without dashes; empty for a setting read
	// from the environment only.
	Flag string
	// Env is the environment variable; empty for a flag-only setting.
	Env string
	// Default is the default as usage and documentation show it.
	Default string
	// Usage says what the setting means.
	Usage string
	// Value parses and holds the setting (see String, Int, Duration...).
	Value flag.Value
}

// Parse sets vars from lookupEnv, then from args (without the program
// name). On -h or --help it writes the usage of name to usage and returns
// flag.ErrHelp. Otherwise it returns every problem found, joined, or nil.
// Arguments left after the flags are an error.
func Parse(name string, vars []Var, args []string, lookupEnv func(string) (string, bool), usage io.Writer) error {
	var errs []error
	for _, v := range vars {
		if v.Env == "" {
			continue
		}
		if s, ok := lookupEnv(v.Env); ok {
			if err := v.Value.Set(s); err != nil {
				errs = append(errs, fmt.Errorf("env %s=%q: %w", v.Env, s, err))
			}
		}
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned; usage is printed below, on request only
	for _, v := range vars {
		if v.Flag != "" {
			fs.Var(v.Value, v.Flag, v.Usage)
		}
	}
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		PrintUsage(usage, name, vars)
		return flag.ErrHelp
	} else if err != nil {
		errs = append(errs, err)
	} else if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	return errors.Join(errs...)
}

// PrintUsage writes one line per flag, then one per environment-only
// variable, each with its variable and default.
func PrintUsage(w io.Writer, name string, vars []Var) {
	fmt.Fprintf(w, "usage: %s [flags]\n", name)
	line := func(head string, v Var) {
		var notes []string
		if v.Flag != "" && v.Env != "" {
			notes = append(notes, "env "+v.Env)
		}
		if v.Default != "" {
			notes = append(notes, "default "+v.Default)
		}
		fmt.Fprintf(w, "  %s\n    \t%s", head, v.Usage)
		if len(notes) > 0 {
			fmt.Fprintf(w, " (%s)", strings.Join(notes, ", "))
		}
		fmt.Fprintln(w)
	}
	for _, v := range vars {
		if v.Flag != "" {
			line("-"+v.Flag, v)
		}
	}
	for _, v := range vars {
		if v.Flag == "" && v.Env != "" {
			line("env "+v.Env, v)
		}
	}
}
