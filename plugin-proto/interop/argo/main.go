// Command argo speaks to a traffic-router plugin the way Argo Rollouts does:
// the same go-plugin handshake and net/rpc calls, with argument types shaped
// like Argo's (the same Go field names, registered type names and nesting).
//
//	argo write <dir>      writes golden gob streams of Argo's calls into dir
//	argo read <file>      decodes a reply stream and prints it as JSON lines
//	argo host <plugin>    loads the plugin binary and calls every method
//	argo record <plugin> <out>  records the bytes a host sends in a short session
package main

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"fmt"
	"net/rpc"
	"os"
	"path/filepath"
	"time"
)

// Shapes of Argo's types (field names as in argoproj/argo-rollouts v1alpha1).

type TypeMeta struct{ Kind, APIVersion string }

type Time struct{ time.Time } // metav1.Time: gob-encoded through time.Time's GobEncode

type ObjectMeta struct {
	Name              string
	Namespace         string
	UID               string
	Generation        int64
	CreationTimestamp Time
	Labels            map[string]string
	Annotations       map[string]string
}

type MangedRoutes struct{ Name string }

type RolloutTrafficRouting struct {
	Plugins          map[string]json.RawMessage
	ManagedRoutes    []MangedRoutes
	MaxTrafficWeight *int32
}

type CanaryStep struct {
	SetWeight      *int32
	SetHeaderRoute *SetHeaderRoute
}

type CanaryStrategy struct {
	CanaryService  string
	StableService  string
	Steps          []CanaryStep
	TrafficRouting *RolloutTrafficRouting
}

type RolloutStrategy struct{ Canary *CanaryStrategy }

type RolloutSpec struct {
	Replicas *int32
	Strategy RolloutStrategy
}

type WeightDestination struct {
	Weight          int32
	ServiceName     string
	PodTemplateHash string
}

type TrafficWeights struct {
	Canary     WeightDestination
	Stable     WeightDestination
	Additional []WeightDestination
	Verified   *bool
}

type CanaryStatus struct{ Weights *TrafficWeights }

type RolloutStatus struct {
	CurrentPodHash   string
	StableRS         string
	CurrentStepIndex *int32
	Canary           CanaryStatus
}

type Rollout struct {
	TypeMeta
	ObjectMeta
	Spec   RolloutSpec
	Status RolloutStatus
}

type StringMatch struct{ Exact, Prefix, Regex string }

type HeaderRoutingMatch struct {
	HeaderName  string
	HeaderValue *StringMatch
}

type SetHeaderRoute struct {
	Name  string
	Match []HeaderRoutingMatch
}

type RouteMatch struct {
	Method  *StringMatch
	Path    *StringMatch
	Headers map[string]StringMatch
}

type SetMirrorRoute struct {
	Name       string
	Match      []RouteMatch
	Percentage *int32
}

type SetWeightAndVerifyWeightArgs struct {
	Rollout                Rollout
	DesiredWeight          int32
	AdditionalDestinations []WeightDestination
}

type SetHeaderArgs struct {
	Rollout        Rollout
	SetHeaderRoute SetHeaderRoute
}

type SetMirrorArgs struct {
	Rollout        Rollout
	SetMirrorRoute SetMirrorRoute
}

type UpdateHashArgs struct {
	Rollout                Rollout
	CanaryHash             string
	StableHash             string
	AdditionalDestinations []WeightDestination
}

type RemoveManagedRoutesArgs struct {
	Rollout Rollout
}

type RpcError struct{ ErrorString string }

type VerifyWeightResponse struct {
	Verified int32
	Err      RpcError
}

func i32(v int32) *int32 { return &v }

func rollout() Rollout {
	return Rollout{
		TypeMeta: TypeMeta{Kind: "Rollout", APIVersion: "argoproj.io/v1alpha1"},
		ObjectMeta: ObjectMeta{
			Name: "rollout-canary", Namespace: "default", UID: "8c1f6e2a", Generation: 3,
			CreationTimestamp: Time{time.Date(2026, 11, 22, 5, 0, 0, 0, time.UTC)},
			Annotations:       map[string]string{"rollout.argoproj.io/revision": "2"},
		},
		Spec: RolloutSpec{
			Replicas: i32(2),
			Strategy: RolloutStrategy{Canary: &CanaryStrategy{
				CanaryService: "web-canary",
				StableService: "web-stable",
				Steps: []CanaryStep{
					{SetWeight: i32(50)},
					{SetHeaderRoute: &SetHeaderRoute{Name: "beta", Match: []HeaderRoutingMatch{{HeaderName: "x-beta", HeaderValue: &StringMatch{Exact: "yes"}}}}},
				},
				TrafficRouting: &RolloutTrafficRouting{
					Plugins:       map[string]json.RawMessage{"argoproj-labs/gatewayAPI": json.RawMessage(`{"httpRoute":"web","namespace":"default"}`)},
					ManagedRoutes: []MangedRoutes{{Name: "beta"}, {Name: "shadow"}},
				},
			}},
		},
		Status: RolloutStatus{
			CurrentPodHash: "5898765588", StableRS: "5c9d79697b", CurrentStepIndex: i32(1),
			Canary: CanaryStatus{Weights: &TrafficWeights{
				Canary: WeightDestination{Weight: 50, ServiceName: "web-canary", PodTemplateHash: "5898765588"},
				Stable: WeightDestination{Weight: 50, ServiceName: "web-stable", PodTemplateHash: "5c9d79697b"},
			}},
		},
	}
}

func register() {
	gob.RegisterName("SetWeightAndVerifyWeightArgs", SetWeightAndVerifyWeightArgs{})
	gob.RegisterName("SetHeaderArgs", SetHeaderArgs{})
	gob.RegisterName("SetMirrorArgs", SetMirrorArgs{})
	gob.RegisterName("UpdateHashArgs", UpdateHashArgs{})
	gob.RegisterName("RemoveManagedRoutesArgs", RemoveManagedRoutesArgs{})
	gob.RegisterName("RpcError", RpcError{})
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// call appends one net/rpc request (header, then body) to the stream.
func call(enc *gob.Encoder, method string, seq uint64, body any) {
	must(enc.Encode(&rpc.Request{ServiceMethod: method, Seq: seq}))
	must(enc.Encode(body))
}

func write(dir string) {
	register()
	// The plugin stream: calls as Argo's rpc client makes them (args passed as `any`).
	var plugin bytes.Buffer
	enc := gob.NewEncoder(&plugin)
	var none any
	call(enc, "Plugin.InitPlugin", 0, &none)
	var args any = SetWeightAndVerifyWeightArgs{Rollout: rollout(), DesiredWeight: 30,
		AdditionalDestinations: []WeightDestination{{Weight: 10, ServiceName: "web-exp", PodTemplateHash: "abc"}}}
	call(enc, "Plugin.SetWeight", 1, &args)
	args = SetHeaderArgs{Rollout: rollout(), SetHeaderRoute: SetHeaderRoute{Name: "beta",
		Match: []HeaderRoutingMatch{{HeaderName: "x-beta", HeaderValue: &StringMatch{Prefix: "y"}}}}}
	call(enc, "Plugin.SetHeaderRoute", 2, &args)
	args = SetMirrorArgs{Rollout: rollout(), SetMirrorRoute: SetMirrorRoute{Name: "shadow", Percentage: i32(20),
		Match: []RouteMatch{{Method: &StringMatch{Exact: "GET"}, Headers: map[string]StringMatch{"x-user": {Regex: "^a"}}}}}}
	call(enc, "Plugin.SetMirrorRoute", 3, &args)
	args = UpdateHashArgs{Rollout: rollout(), CanaryHash: "5898765588", StableHash: "5c9d79697b"}
	call(enc, "Plugin.UpdateHash", 4, &args)
	call(enc, "Plugin.Type", 5, &none)
	must(os.WriteFile(filepath.Join(dir, "plugin-calls.gob"), plugin.Bytes(), 0o644))

	// The control stream: Dispense and Ping as go-plugin's client sends them.
	var control bytes.Buffer
	enc = gob.NewEncoder(&control)
	call(enc, "Control.Ping", 0, true)
	call(enc, "Dispenser.Dispense", 1, "RpcTrafficRouterPlugin")
	call(enc, "Control.Quit", 2, true)
	must(os.WriteFile(filepath.Join(dir, "control-calls.gob"), control.Bytes(), 0o644))
}

// read decodes a reply stream: rpc.Response headers, each followed by the
// body its method returns, and prints one JSON object per reply.
func read(file string) {
	register()
	data, err := os.ReadFile(file)
	must(err)
	dec := gob.NewDecoder(bytes.NewReader(data))
	out := json.NewEncoder(os.Stdout)
	for {
		var resp rpc.Response
		if err := dec.Decode(&resp); err != nil {
			return
		}
		var body any
		switch {
		case resp.Error != "":
			var invalid struct{}
			must(dec.Decode(&invalid))
		case resp.ServiceMethod == "Plugin.Type":
			var s string
			must(dec.Decode(&s))
			body = s
		case resp.ServiceMethod == "Plugin.VerifyWeight":
			var v VerifyWeightResponse
			must(dec.Decode(&v))
			body = v
		case resp.ServiceMethod == "Dispenser.Dispense":
			var id uint32
			must(dec.Decode(&id))
			body = id
		case resp.ServiceMethod == "Control.Ping" || resp.ServiceMethod == "Control.Quit":
			var empty struct{}
			must(dec.Decode(&empty))
			body = map[string]any{}
		default:
			var e RpcError
			must(dec.Decode(&e))
			body = e
		}
		must(out.Encode(map[string]any{"method": resp.ServiceMethod, "seq": resp.Seq, "error": resp.Error, "body": body}))
	}
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: argo write <dir> | read <file> | host <plugin> | record <plugin> <out>")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "write":
		write(os.Args[2])
	case "read":
		read(os.Args[2])
	case "host":
		os.Exit(host(os.Args[2]))
	case "record":
		if len(os.Args) != 4 {
			fmt.Fprintln(os.Stderr, "usage: argo record <plugin> <out file>")
			os.Exit(2)
		}
		os.Exit(record(os.Args[2], os.Args[3]))
	default:
		fmt.Fprintln(os.Stderr, "unknown command", os.Args[1])
		os.Exit(2)
	}
}
