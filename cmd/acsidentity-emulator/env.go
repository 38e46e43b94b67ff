package main

import (
	"flag"
	"fmt"
	"net"
	"sort"
	"strings"
)

// envPrefix starts the environment variables that stand for the command's
// flags: ACSIDENTITY_EMULATOR_TLS=true is -tls, ACSIDENTITY_EMULATOR_DATA=FILE
// is -data FILE, ACSIDENTITY_EMULATOR_CERT_OUT is -cert-out. They exist for
// containers whose arguments cannot be set, such as a GitHub Actions
// service container, and let the image say where it listens
// (ACSIDENTITY_EMULATOR_ADDR) in a way its health check can read too.
const envPrefix = "ACSIDENTITY_EMULATOR_"

// envName is the environment variable for the flag name.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// flagsFromEnv sets every flag of fs that the command line did not give
// from its variable in environ ("NAME=value" entries, as os.Environ
// returns them). The command line wins over the environment. The repeated
// -fault and -allow-host take their values separated by spaces. A variable with the prefix
// that names no flag is an error, so that a misspelt setting is not
// silently ignored.
func flagsFromEnv(fs *flag.FlagSet, environ []string) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	byEnv := map[string]*flag.Flag{}
	fs.VisitAll(func(f *flag.Flag) { byEnv[envName(f.Name)] = f })
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, envPrefix) {
			continue
		}
		f, ok := byEnv[name]
		if !ok {
			known := make([]string, 0, len(byEnv))
			for k := range byEnv {
				known = append(known, k)
			}
			sort.Strings(known)
			return fmt.Errorf("%s is not a setting of the emulator; the settings are %s", name, strings.Join(known, ", "))
		}
		if given[f.Name] {
			continue
		}
		values := []string{value}
		if f.Name == "fault" || f.Name == "allow-host" {
			values = strings.Fields(value)
		}
		for _, v := range values {
			if err := fs.Set(f.Name, v); err != nil {
				// Only bool, number, duration and -fault values can fail
				// here, never -key's, so the error quotes no secret.
				return fmt.Errorf("%s: not a valid value for -%s: %w", name, f.Name, err)
			}
		}
	}
	return nil
}

// probeAddr is the address the health probe asks by default: the port the
// emulator was told to listen on through the environment (the image sets
// ACSIDENTITY_EMULATOR_ADDR), on loopback when that address is every
// interface, else def.
func probeAddr(getenv func(string) string, def string) string {
	addr := getenv(envName("addr"))
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" || port == "0" {
		return def
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
