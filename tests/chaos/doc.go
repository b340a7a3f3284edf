// Package chaos holds the seeded, randomized fault campaign of the leader and discovery
// recipes on a 3-node ZooKeeper ensemble. It has no code outside its tests; run it with
// `make chaos ROUNDS=N`, or `(cd tests && go test -race -run TestCampaign ./chaos)` for the
// short version (CHAOS_SEED and CHAOS_ROUNDS choose the schedule, CHAOS_OUT where failure
// reports go). See campaign_test.go.
package chaos
