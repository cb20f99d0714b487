// Package layering holds the test that keeps distill's imports pointing down
// the tree. It has no code of its own: the rule lives in layering_test.go and
// in docs/ARCHITECTURE.md ("Packages and dependency direction").
package layering
