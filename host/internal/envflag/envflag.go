// Package envflag lets every flag of a command also come from the
// environment: PREFIX<NAME>, upper case with '-' as '_' (--plugin-addr ->
// HOSTSTUB_PLUGIN_ADDR). A flag given on the command line wins.
package envflag

import (
	"errors"
	"flag"
	"fmt"
	"strings"
)

// Name is the environment variable of flag name under prefix.
func Name(prefix, name string) string {
	return prefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// Apply fills each flag of fs not given on the command line (call it after
// fs.Parse) from its environment variable; each bad value is one error naming
// the variable.
func Apply(fs *flag.FlagSet, prefix string, getenv func(string) string) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		key := Name(prefix, f.Name)
		if v := getenv(key); v != "" && !given[f.Name] {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", key, v, err))
			}
		}
	})
	return errors.Join(errs...)
}
