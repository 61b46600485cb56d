package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/rpc"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	goPlugin "github.com/hashicorp/go-plugin"
)

// rpcPlugin is the host half of Argo's RpcTrafficRouterPlugin: it hands back
// the net/rpc client on the dispensed broker stream.
type rpcPlugin struct{}

func (rpcPlugin) Server(*goPlugin.MuxBroker) (interface{}, error) { return nil, fmt.Errorf("host only") }

func (rpcPlugin) Client(_ *goPlugin.MuxBroker, c *rpc.Client) (interface{}, error) { return c, nil }

type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// rolloutWith is the shared example Rollout with this router's config.
func rolloutWith(config string) Rollout {
	r := rollout()
	r.Spec.Strategy.Canary.TrafficRouting.Plugins = map[string]json.RawMessage{"rollgate/journal": json.RawMessage(config)}
	return r
}

// host loads the plugin as Argo's controller does and calls every method,
// checking the replies decode as Argo expects. It returns the exit code.
func host(binary string) int {
	register()
	logs := &logBuffer{}
	client := goPlugin.NewClient(&goPlugin.ClientConfig{
		HandshakeConfig: goPlugin.HandshakeConfig{
			ProtocolVersion:  1,
			MagicCookieKey:   "ARGO_ROLLOUTS_RPC_PLUGIN",
			MagicCookieValue: "trafficrouter",
		},
		Plugins: map[string]goPlugin.Plugin{"RpcTrafficRouterPlugin": rpcPlugin{}},
		Cmd:     exec.Command(binary),
		Managed: true,
		Logger:  hclog.New(&hclog.LoggerOptions{Name: "argo", Level: hclog.Debug, Output: logs}),
	})
	defer client.Kill()
	failed := false
	fail := func(format string, args ...interface{}) {
		failed = true
		fmt.Fprintf(os.Stderr, "FAIL: "+format+"\n", args...)
	}

	rpcClient, err := client.Client()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: handshake: %v\n%s", err, logs.String())
		return 1
	}
	if err := rpcClient.Ping(); err != nil {
		fail("Control.Ping: %v", err)
	}
	raw, err := rpcClient.Dispense("RpcTrafficRouterPlugin")
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: dispense: %v\n%s", err, logs.String())
		return 1
	}
	plugin := raw.(*rpc.Client)

	// Each call as Argo's rpc client makes it: arguments passed as `any`.
	callErr := func(method string, args any) string {
		var resp RpcError
		if err := plugin.Call("Plugin."+method, &args, &resp); err != nil {
			fail("%s: %v", method, err)
			return ""
		}
		return resp.ErrorString
	}
	var none any
	if e := callErr("InitPlugin", none); e != "" {
		fail("InitPlugin: %s", e)
	}
	var name string
	if err := plugin.Call("Plugin.Type", &none, &name); err != nil || name != "rollgate/journal" {
		fail("Type: %q %v", name, err)
	}
	ok := rolloutWith(`{"httpRoute":"web"}`)
	if e := callErr("UpdateHash", UpdateHashArgs{Rollout: ok, CanaryHash: "5898765588", StableHash: "5c9d79697b"}); e != "" {
		fail("UpdateHash: %s", e)
	}
	if e := callErr("SetWeight", SetWeightAndVerifyWeightArgs{Rollout: ok, DesiredWeight: 30,
		AdditionalDestinations: []WeightDestination{{Weight: 10, ServiceName: "web-exp", PodTemplateHash: "abc"}}}); e != "" {
		fail("SetWeight: %s", e)
	}
	if e := callErr("SetHeaderRoute", SetHeaderArgs{Rollout: ok, SetHeaderRoute: SetHeaderRoute{Name: "beta",
		Match: []HeaderRoutingMatch{{HeaderName: "x-beta", HeaderValue: &StringMatch{Exact: "yes"}}}}}); e != "" {
		fail("SetHeaderRoute: %s", e)
	}
	if e := callErr("SetMirrorRoute", SetMirrorArgs{Rollout: ok, SetMirrorRoute: SetMirrorRoute{Name: "shadow", Percentage: i32(20),
		Match: []RouteMatch{{Method: &StringMatch{Exact: "GET"}, Path: &StringMatch{Prefix: "/api"}}}}}); e != "" {
		fail("SetMirrorRoute: %s", e)
	}
	if e := callErr("RemoveManagedRoutes", RemoveManagedRoutesArgs{Rollout: ok}); e != "" {
		fail("RemoveManagedRoutes: %s", e)
	}
	for config, want := range map[string]int32{`{}`: 1, `{"verify":"NotVerified"}`: 0, `{"verify":"NotImplemented"}`: 2} {
		var args any = SetWeightAndVerifyWeightArgs{Rollout: rolloutWith(config), DesiredWeight: 30}
		var resp VerifyWeightResponse
		if err := plugin.Call("Plugin.VerifyWeight", &args, &resp); err != nil || resp.Verified != want || resp.Err.ErrorString != "" {
			fail("VerifyWeight %s: got %+v %v, want %d", config, resp, err, want)
		}
	}
	if e := callErr("SetWeight", SetWeightAndVerifyWeightArgs{Rollout: rolloutWith(`{"fail":"HTTPRoute default/web not found"}`), DesiredWeight: 1}); e != "HTTPRoute default/web not found" {
		fail("a router error should arrive intact, got %q", e)
	}
	missing := rollout()
	if e := callErr("SetWeight", SetWeightAndVerifyWeightArgs{Rollout: missing, DesiredWeight: 1}); !strings.Contains(e, `no entry "rollgate/journal"`) {
		fail("a rollout without this plugin's config should be refused, got %q", e)
	}

	// Many rollout workers at once on the one stream.
	var wg sync.WaitGroup
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func(w int32) {
			defer wg.Done()
			if e := callErr("SetWeight", SetWeightAndVerifyWeightArgs{Rollout: ok, DesiredWeight: 100 + w}); e != "" {
				fail("concurrent SetWeight %d: %s", w, e)
			}
		}(int32(i))
	}
	wg.Wait()

	started := time.Now()
	client.Kill()
	if !client.Exited() {
		fail("the plugin is still running after Kill")
	}
	out := logs.String()
	if strings.Contains(out, "failed to exit gracefully") || time.Since(started) > 2*time.Second {
		fail("the plugin did not exit on Control.Quit within 2 s")
	}
	if failed {
		fmt.Fprintf(os.Stderr, "--- host log ---\n%s", out)
		return 1
	}
	fmt.Println("ok: handshake, Ping, Dispense, every Plugin method, errors, 32 concurrent calls, Quit")
	return 0
}
