// Command argo-validate gives Argo Rollouts' own verdict on Rollout
// manifests, with no cluster: every YAML document of every file is decoded
// strictly (unknown or duplicate fields are refused, as `kubectl argo
// rollouts lint` and an API server with field validation do), and each
// Rollout is checked by github.com/argoproj/argo-rollouts' validation
// package (from the Go module proxy):
//
//   - validation.ValidateRollout, the spec rules the controller checks first;
//   - validation.ValidateRolloutReferencedResources with no referenced
//     objects (there is no cluster to read Services, Ingresses or
//     VirtualServices from), as the lint command does for a lone Rollout;
//   - the three configuration checks the controller runs before it reads
//     references (nginx stableIngress/stableIngresses, alb
//     ingress/ingresses, istio virtualService/virtualServices).
//
// It prints one JSON line per document:
//
//	{"file":"canary.yaml","document":0,"kind":"Rollout","name":"web",
//	 "decodeError":"","errors":[{"field":"spec.strategy.canary.steps[0].setWeight",
//	 "type":"Invalid value","detail":"SetWeight needs to be between 0 and 100",
//	 "message":"Invalid value: 150: SetWeight needs to be between 0 and 100"}]}
//
// "document" counts the non-empty documents of the file from 0. Errors come
// in Argo's order, so the first one is what the controller would put in the
// Rollout's InvalidSpec condition.
//
// Usage: argo-validate [-expect valid|invalid] FILE...
//
// With -expect, the exit status is 1 when a Rollout gets the other verdict
// (each such Rollout is named on stderr).
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/argoproj/argo-rollouts/pkg/apis/rollouts/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// fieldError is one of Argo's errors.
type fieldError struct {
	// Field is Argo's field path, e.g. spec.strategy.canary.steps[0].setWeight.
	Field string `json:"field"`
	// Type is Argo's error type, e.g. "Invalid value" or "Required value".
	Type string `json:"type"`
	// Detail is Argo's explanation alone.
	Detail string `json:"detail"`
	// Message is the type, the offending value and the detail together.
	Message string `json:"message"`
}

// verdict is the line printed for one document.
type verdict struct {
	File        string       `json:"file"`
	Document    int          `json:"document"`
	Kind        string       `json:"kind"`
	Name        string       `json:"name"`
	DecodeError string       `json:"decodeError"`
	Errors      []fieldError `json:"errors"`
}

func (v verdict) valid() bool { return v.DecodeError == "" && len(v.Errors) == 0 }

func main() {
	expect := flag.String("expect", "", "valid or invalid: exit 1 when a Rollout gets the other verdict")
	flag.Parse()
	if flag.NArg() == 0 || (*expect != "" && *expect != "valid" && *expect != "invalid") {
		fmt.Fprintln(os.Stderr, "usage: argo-validate [-expect valid|invalid] FILE...")
		os.Exit(2)
	}
	out := json.NewEncoder(os.Stdout)
	unexpected := 0
	for _, path := range flag.Args() {
		verdicts, err := validateFile(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
			os.Exit(2)
		}
		for _, v := range verdicts {
			if err := out.Encode(v); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			if v.Kind != "Rollout" || *expect == "" || v.valid() == (*expect == "valid") {
				continue
			}
			unexpected++
			fmt.Fprintf(os.Stderr, "%s (document %d, Rollout %q): expected %s, Argo says %s\n",
				v.File, v.Document, v.Name, *expect, describe(v))
		}
	}
	if unexpected > 0 {
		os.Exit(1)
	}
}

func describe(v verdict) string {
	switch {
	case v.DecodeError != "":
		return "it does not decode: " + v.DecodeError
	case len(v.Errors) > 0:
		return fmt.Sprintf("%s: %s", v.Errors[0].Field, v.Errors[0].Message)
	default:
		return "valid"
	}
}

// validateFile returns a verdict for every non-empty document of the file.
func validateFile(path string) ([]verdict, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(text)))
	var verdicts []verdict
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return verdicts, nil
		}
		if err != nil {
			return nil, err
		}
		var generic map[string]any
		if err := yaml.Unmarshal(doc, &generic); err != nil {
			return nil, fmt.Errorf("document %d: %w", len(verdicts), err)
		}
		if generic == nil {
			continue // only comments or blank
		}
		v := verdict{File: filepath.Base(path), Document: len(verdicts), Errors: []fieldError{}}
		v.Kind, _ = generic["kind"].(string)
		if meta, ok := generic["metadata"].(map[string]any); ok {
			v.Name, _ = meta["name"].(string)
		}
		if v.Kind == "Rollout" {
			validateRollout(doc, &v)
		}
		verdicts = append(verdicts, v)
	}
}

// validateRollout decodes one Rollout strictly and records Argo's errors.
func validateRollout(doc []byte, v *verdict) {
	var rollout v1alpha1.Rollout
	if err := yaml.UnmarshalStrict(doc, &rollout, yaml.DisallowUnknownFields); err != nil {
		v.DecodeError = err.Error()
		return
	}
	var all field.ErrorList
	all = append(all, validation.ValidateRollout(&rollout)...)
	all = append(all, validation.ValidateRolloutReferencedResources(&rollout, validation.ReferencedResources{})...)
	for _, check := range []func(*v1alpha1.Rollout) error{
		validation.ValidateRolloutNginxIngressesConfig,
		validation.ValidateRolloutAlbIngressesConfig,
		validation.ValidateRolloutVirtualServicesConfig,
	} {
		err := check(&rollout)
		if err == nil {
			continue
		}
		var fe *field.Error
		if !errors.As(err, &fe) {
			fe = field.InternalError(nil, err)
		}
		all = append(all, fe)
	}
	for _, e := range all {
		v.Errors = append(v.Errors, fieldError{
			Field:   e.Field,
			Type:    e.Type.String(),
			Detail:  e.Detail,
			Message: e.ErrorBody(),
		})
	}
}
