package emulator

import (
	"sort"
	"strings"

	"github.com/acsgo/acsidentity/emulator/internal/datafile"
	"github.com/acsgo/acsidentity/internal/wire"
)

// The store's Teams Phone extension and Entra ID assignments. Every method
// takes the assignments' lock itself; a change is journaled under it, so
// the journal has the changes in the order they were made.

// teamsAssignment returns the Teams Phone extension assignment of object
// oid in tenant tid.
func (s *store) teamsAssignment(tid, oid string) (wire.TeamsExtensionAssignment, bool) {
	s.assignMu.RLock()
	defer s.assignMu.RUnlock()
	a, ok := s.teams[teamsKey{tid, oid}]
	return a, ok
}

// putTeams creates or replaces a Teams Phone extension assignment and
// reports whether one existed.
func (s *store) putTeams(a wire.TeamsExtensionAssignment) bool {
	s.assignMu.Lock()
	defer s.assignMu.Unlock()
	k := teamsKey{a.TenantID, a.ObjectID}
	_, existed := s.teams[k]
	s.teams[k] = a
	s.changed(datafile.Change{Teams: []wire.TeamsExtensionAssignment{a}})
	return existed
}

// deleteTeams removes a Teams Phone extension assignment, if there is one.
func (s *store) deleteTeams(tid, oid string) {
	s.assignMu.Lock()
	defer s.assignMu.Unlock()
	delete(s.teams, teamsKey{tid, oid})
	s.changed(datafile.Change{TeamsDeleted: []datafile.TeamsRef{{TenantID: tid, ObjectID: oid}}})
}

// entraAssignment returns the Entra ID assignment of object obj.
func (s *store) entraAssignment(obj string) (wire.EntraAssignment, bool) {
	s.assignMu.RLock()
	defer s.assignMu.RUnlock()
	a, ok := s.entra[obj]
	return a, ok
}

// entraCovering returns the Entra ID assignment that covers user oid of
// tenant tid, a member of groups: its own (principalType user), its
// tenant's, or one of its groups'.
func (s *store) entraCovering(tid, oid string, groups []string) (wire.EntraAssignment, bool) {
	s.assignMu.RLock()
	defer s.assignMu.RUnlock()
	if a, ok := s.entra[oid]; ok && a.PrincipalType == "user" && a.TenantID == tid {
		return a, true
	}
	if a, ok := s.entra[tid]; ok && a.PrincipalType == "tenant" {
		return a, true
	}
	for _, g := range groups {
		if a, ok := s.entra[strings.ToLower(g)]; ok && a.PrincipalType == "group" && a.TenantID == tid {
			return a, true
		}
	}
	return wire.EntraAssignment{}, false
}

// putEntra creates or replaces an Entra ID assignment and reports whether
// one existed.
func (s *store) putEntra(a wire.EntraAssignment) bool {
	s.assignMu.Lock()
	defer s.assignMu.Unlock()
	_, existed := s.entra[a.ObjectID]
	s.entra[a.ObjectID] = a
	s.changed(datafile.Change{Entra: []wire.EntraAssignment{a}})
	return existed
}

// deleteEntra removes an Entra ID assignment, if there is one.
func (s *store) deleteEntra(obj string) {
	s.assignMu.Lock()
	defer s.assignMu.Unlock()
	delete(s.entra, obj)
	s.changed(datafile.Change{EntraDeleted: []string{obj}})
}

// entraEdit is one assignment of a patch: the new one, or nil to remove it.
type entraEdit struct {
	key string
	a   *wire.EntraAssignment
}

// patchEntra applies the edits that plan makes of the assignments as they
// are, all or none: plan runs under the assignments' lock with a way to
// read them, and returns the edits or false to make none. The edits are
// saved as one change, so a crash keeps all or none of them too.
func (s *store) patchEntra(plan func(get func(obj string) (wire.EntraAssignment, bool)) ([]entraEdit, bool)) bool {
	s.assignMu.Lock()
	defer s.assignMu.Unlock()
	edits, ok := plan(func(obj string) (wire.EntraAssignment, bool) {
		a, ok := s.entra[obj]
		return a, ok
	})
	if !ok {
		return false
	}
	var saved datafile.Change
	for _, ed := range edits {
		if ed.a == nil {
			delete(s.entra, ed.key)
			saved.EntraDeleted = append(saved.EntraDeleted, ed.key)
		} else {
			s.entra[ed.key] = *ed.a
			saved.Entra = append(saved.Entra, *ed.a)
		}
	}
	if len(edits) > 0 {
		s.changed(saved)
	}
	return true
}

// entraPage returns up to size Entra ID assignments whose object IDs sort
// after the given one, sorted, and whether more follow.
func (s *store) entraPage(after string, size int) ([]wire.EntraAssignment, bool) {
	s.assignMu.RLock()
	defer s.assignMu.RUnlock()
	keys := make([]string, 0, len(s.entra))
	for k := range s.entra {
		if k > after {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	more := len(keys) > size
	if more {
		keys = keys[:size]
	}
	out := make([]wire.EntraAssignment, 0, len(keys))
	for _, k := range keys {
		out = append(out, s.entra[k])
	}
	return out, more
}
