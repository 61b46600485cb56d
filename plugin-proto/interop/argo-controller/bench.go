package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/argoproj/argo-rollouts/rollout/trafficrouting/plugin/client"
	goPlugin "github.com/hashicorp/go-plugin"
)

const benchCalls = 5000

// bench measures SetWeight round trips through Argo's plugin client with the
// full Rollout object, for the Rust plugin and for a no-op Go plugin, and
// prints one JSON line per plugin: p50/p99 in microseconds and the plugin
// process's resident memory after the run.
func bench(args []string) int {
	if len(args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: argo-controller bench <rust plugin> <go plugin> <rollout.yaml> <work dir>")
		return 2
	}
	rust, goBin, manifest, work := args[0], args[1], args[2], args[3]
	plugins := map[string]string{"argoproj-labs/rust": rust, "argoproj-labs/go": goBin}
	if err := install(work, plugins); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	defer goPlugin.CleanupClients()
	ro, err := loadRollout(manifest)
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	ro.Namespace = "default"
	ro.Spec.Strategy.Canary.TrafficRouting.Plugins = map[string]json.RawMessage{
		"argoproj-labs/rust": json.RawMessage(`{"httpRoute":"web"}`),
		"argoproj-labs/go":   json.RawMessage(`{"httpRoute":"web"}`),
	}
	for _, name := range []string{"argoproj-labs/rust", "argoproj-labs/go"} {
		plugin, err := client.GetTrafficPlugin(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, "FAIL:", name, err)
			return 1
		}
		for i := 0; i < 500; i++ {
			plugin.SetWeight(&ro, int32(i%100), nil)
		}
		latencies := make([]time.Duration, 0, benchCalls)
		for i := 0; i < benchCalls; i++ {
			started := time.Now()
			if e := plugin.SetWeight(&ro, int32(i%100), nil); e.HasError() {
				fmt.Fprintln(os.Stderr, "FAIL:", name, e)
				return 1
			}
			latencies = append(latencies, time.Since(started))
		}
		sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
		at := func(p float64) float64 {
			return float64(latencies[int(p*float64(len(latencies)-1))].Nanoseconds()) / 1000
		}
		out, _ := json.Marshal(map[string]any{
			"plugin": name, "calls": benchCalls, "p50_us": at(0.50), "p99_us": at(0.99),
			"rss_kib": childRSS(filepath.Join(work, "plugin-bin", filepath.FromSlash(name))),
		})
		fmt.Println(string(out))
	}
	return 0
}

// childRSS is the resident memory (KiB) of this process's child started from path.
func childRSS(path string) int {
	entries, _ := os.ReadDir("/proc")
	self := strconv.Itoa(os.Getpid())
	for _, e := range entries {
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(fields) < 2 || fields[1] != self {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if !strings.HasPrefix(string(cmdline), path) {
			continue
		}
		status, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		for _, line := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(line, "VmRSS:") {
				kib, _ := strconv.Atoi(strings.Fields(line)[1])
				return kib
			}
		}
	}
	return 0
}
