package tokenservice

import "slices"

// memoryStoreKeys returns the callers of s's records, sorted, for tests.
func memoryStoreKeys(s *MemoryIdentityStore) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.ids))
	for k := range s.ids {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// MemoryStoreKeys is memoryStoreKeys for package tokenservice_test.
var MemoryStoreKeys = memoryStoreKeys
