// Command argo-controller loads a traffic-router plugin with Argo Rollouts'
// own plugin client code (github.com/argoproj/argo-rollouts, from the Go
// module proxy), exactly as the controller does: the plugin is listed in the
// argo-rollouts-config ConfigMap under trafficRouterPlugins (with args),
// installed under plugin-bin/<name>, started by client.GetTrafficPlugin
// (env, args, handshake, dispense, InitPlugin, ping), and called with real
// v1alpha1.Rollout objects.
//
// Usage: argo-controller <plugin binary> <rollout.yaml> <work dir>
//
// With "bench" it measures SetWeight round trips through the same client for
// a Rust plugin and a Go plugin (see bench.go).
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/argoproj/argo-rollouts/rollout/trafficrouting/plugin/client"
	"github.com/argoproj/argo-rollouts/utils/config"
	"github.com/argoproj/argo-rollouts/utils/plugin/types"
	goPlugin "github.com/hashicorp/go-plugin"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"
)

const pluginName = "argoproj-labs/gatewayAPI"

func i32(v int32) *int32 { return &v }

func main() {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: argo-controller <plugin binary> <rollout.yaml> <work dir>\n"+
			"       argo-controller bench <rust plugin> <go plugin> <rollout.yaml> <work dir>")
		os.Exit(2)
	}
	if os.Args[1] == "bench" {
		os.Exit(bench(os.Args[2:]))
	}
	binary, manifest, work := os.Args[1], os.Args[2], os.Args[3]
	failed := false
	fail := func(format string, args ...interface{}) {
		failed = true
		fmt.Fprintf(os.Stderr, "FAIL: "+format+"\n", args...)
	}
	must := func(err error) {
		if err != nil {
			fmt.Fprintln(os.Stderr, "FAIL:", err)
			os.Exit(1)
		}
	}

	// The controller's configuration: the plugin is registered by name, with
	// args, and installed where the controller downloads plugins to.
	must(install(work, map[string]string{pluginName: binary}))

	// Seed 001's Rollout, with managed routes, header and mirror steps, and status.
	ro, err := loadRollout(manifest)
	must(err)
	ro.Namespace = "default"
	canary := ro.Spec.Strategy.Canary
	canary.TrafficRouting.ManagedRoutes = []v1alpha1.MangedRoutes{{Name: "beta"}, {Name: "shadow"}}
	header := v1alpha1.SetHeaderRoute{Name: "beta", Match: []v1alpha1.HeaderRoutingMatch{
		{HeaderName: "x-beta", HeaderValue: &v1alpha1.StringMatch{Exact: "yes"}}}}
	mirror := v1alpha1.SetMirrorRoute{Name: "shadow", Percentage: i32(20), Match: []v1alpha1.RouteMatch{
		{Method: &v1alpha1.StringMatch{Exact: "GET"}, Path: &v1alpha1.StringMatch{Prefix: "/api"},
			Headers: map[string]v1alpha1.StringMatch{"x-user": {Regex: "^a"}}}}}
	canary.Steps = append(canary.Steps, v1alpha1.CanaryStep{SetHeaderRoute: &header}, v1alpha1.CanaryStep{SetMirrorRoute: &mirror})
	ro.Status.CurrentPodHash = "5898765588"
	ro.Status.StableRS = "5c9d79697b"
	ro.Status.CurrentStepIndex = i32(1)
	ro.Status.Canary.Weights = &v1alpha1.TrafficWeights{
		Canary: v1alpha1.WeightDestination{Weight: 50, ServiceName: "web-canary", PodTemplateHash: "5898765588"},
		Stable: v1alpha1.WeightDestination{Weight: 50, ServiceName: "web-stable", PodTemplateHash: "5c9d79697b"},
	}
	with := func(cfg string) *v1alpha1.Rollout {
		c := ro.DeepCopy()
		c.Spec.Strategy.Canary.TrafficRouting.Plugins = map[string]json.RawMessage{pluginName: json.RawMessage(cfg)}
		return c
	}

	plugin, err := client.GetTrafficPlugin(pluginName)
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: GetTrafficPlugin:", err)
		os.Exit(1)
	}
	defer goPlugin.CleanupClients()
	if name := plugin.Type(); name != "rollgate/journal" {
		fail("Type: %q", name)
	}
	dests := []v1alpha1.WeightDestination{{Weight: 10, ServiceName: "web-exp", PodTemplateHash: "abc"}}
	if e := plugin.UpdateHash(&ro, "5898765588", "5c9d79697b", dests); e.HasError() {
		fail("UpdateHash: %v", e)
	}
	if e := plugin.SetWeight(&ro, 30, dests); e.HasError() {
		fail("SetWeight: %v", e)
	}
	if e := plugin.SetHeaderRoute(&ro, &header); e.HasError() {
		fail("SetHeaderRoute: %v", e)
	}
	if e := plugin.SetMirrorRoute(&ro, &mirror); e.HasError() {
		fail("SetMirrorRoute: %v", e)
	}
	for cfg, want := range map[string]types.RpcVerified{`{}`: types.Verified, `{"verify":"NotVerified"}`: types.NotVerified, `{"verify":"NotImplemented"}`: types.NotImplemented} {
		got, e := plugin.VerifyWeight(with(cfg), 30, nil)
		if e.HasError() || got != want {
			fail("VerifyWeight %s: %v %v, want %v", cfg, got, e, want)
		}
	}
	if e := plugin.RemoveManagedRoutes(&ro); e.HasError() {
		fail("RemoveManagedRoutes: %v", e)
	}
	if e := plugin.SetWeight(with(`{"fail":"HTTPRoute default/web not found"}`), 1, nil); e.Error() != "HTTPRoute default/web not found" {
		fail("router error: %q", e.Error())
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []string
	for i := int32(0); i < 32; i++ {
		wg.Add(1)
		go func(w int32) {
			defer wg.Done()
			if e := plugin.SetWeight(&ro, 100+w, nil); e.HasError() {
				mu.Lock()
				errs = append(errs, e.Error())
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	if len(errs) > 0 {
		fail("concurrent SetWeight: %s", strings.Join(errs, "; "))
	}
	if failed {
		os.Exit(1)
	}
	fmt.Println("ok: Argo's GetTrafficPlugin started the plugin; every method answered as Argo expects")
}

// install registers plugins (name -> binary) in the argo-rollouts-config
// ConfigMap the way an operator does, and puts each binary where the
// controller keeps downloaded plugins (plugin-bin/<name> under work, which
// becomes the working directory). Each gets --plugin-name <name>.
func install(work string, plugins map[string]string) error {
	if err := os.Setenv("POD_NAMESPACE", "argo-rollouts"); err != nil {
		return err
	}
	var entries strings.Builder
	for name, binary := range plugins {
		fmt.Fprintf(&entries, "- name: %q\n  location: \"file://%s\"\n  args: [\"--plugin-name\", %q]\n", name, binary, name)
		path := filepath.Join(work, "plugin-bin", filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		_ = os.Remove(path)
		if err := os.Symlink(binary, path); err != nil {
			return err
		}
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "argo-rollouts-config", Namespace: "argo-rollouts"},
		Data:       map[string]string{"trafficRouterPlugins": entries.String()},
	}
	if _, err := config.InitializeConfig(fake.NewSimpleClientset(cm), "argo-rollouts-config"); err != nil {
		return err
	}
	return os.Chdir(work)
}

// loadRollout reads a Rollout manifest into Argo's own type.
func loadRollout(manifest string) (v1alpha1.Rollout, error) {
	var ro v1alpha1.Rollout
	data, err := os.ReadFile(manifest)
	if err != nil {
		return ro, err
	}
	return ro, yaml.Unmarshal(data, &ro)
}
