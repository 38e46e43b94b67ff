package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/acsgo/acsidentity/emulator"
)

// devFlags adds the flags of the emulator as a development environment
// (a seed file, remote inspection, the data file's size limit, custom-ID
// races) to fs and
// returns the function that applies them to the options once fs is
// parsed.
func devFlags(fs *flag.FlagSet) func(*emulator.Options) error {
	seed := fs.String("seed", "", "JSON `file` of identities to create at start unless they exist: {\"identities\":[{\"customId\":\"alice\"},{\"id\":\"8:acs:<resource>_<unique>\"}]}")
	remote := fs.Bool("allow-remote-inspection", false, "let the inspection and reset endpoints (/.emulator/identities, /.emulator/reset, /.emulator/seed) answer requests that reach the emulator on an address other than loopback")
	maxData := fs.Int64("max-data-file", emulator.DefaultMaxDataFileBytes, "largest -data file in `bytes` the emulator reads at start (a larger one is refused)")
	races := fs.Bool("custom-id-races", false, "let creates with the same custom ID that overlap in time each make an identity, as on the real service; from then on creates with that custom ID answer 409 MultipleIdentitiesForCustomId")
	raceWindow := fs.Duration("custom-id-race-window", emulator.DefaultCustomIDRaceWindow, "with -custom-id-races, how long the first create of a custom ID waits before it makes the identity (creates with that custom ID meanwhile make their own)")
	return func(o *emulator.Options) error {
		o.AllowRemoteInspection, o.MaxDataFileBytes = *remote, *maxData
		o.CustomIDRaces, o.CustomIDRaceWindow = *races, *raceWindow
		if *seed == "" {
			return nil
		}
		ids, err := emulator.ReadSeedFile(*seed)
		o.Seed = ids
		return err
	}
}

// announceDev tells what the data file held and where the development
// OIDC issuer is.
func announceDev(stderr io.Writer, srv *emulator.Server) {
	if st := srv.Emulator.DataFileStatus(); st.Existed {
		fmt.Fprintf(stderr, "acsidentity-emulator: data file %s loaded: %d identities, %d changes replayed\n", st.Path, st.Identities, st.ChangesReplayed)
	}
	fmt.Fprintf(stderr, "acsidentity-emulator: development OIDC issuer (signs for anyone who can reach it) at %s%s\n", srv.URL, emulator.OIDCIssuerPath)
}
