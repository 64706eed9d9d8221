package api

import "testing"

func TestRuntimeHandlerForNamesWasmOrContainerd(t *testing.T) {
	if got := RuntimeHandlerFor(&PodSpec{RuntimeClassName: RuntimeClassWasm}); got != "wasm" {
		t.Errorf("wasm pod needs %q, want wasm", got)
	}
	if got := RuntimeHandlerFor(&PodSpec{}); got != "containerd" {
		t.Errorf("container pod needs %q, want containerd", got)
	}
}

func TestTolerationsTolerateTaint(t *testing.T) {
	taint := Taint{Key: "edge", Value: "true", Effect: TaintEffectNoExecute}
	tests := []struct {
		name string
		give Toleration
		want bool
	}{
		{name: "equal key and value", give: Toleration{Key: "edge", Value: "true"}, want: true},
		{name: "equal with effect", give: Toleration{Key: "edge", Operator: "Equal", Value: "true", Effect: TaintEffectNoExecute}, want: true},
		{name: "other value", give: Toleration{Key: "edge", Value: "false"}},
		{name: "other effect", give: Toleration{Key: "edge", Value: "true", Effect: TaintEffectNoSchedule}},
		{name: "exists key", give: Toleration{Key: "edge", Operator: "Exists"}, want: true},
		{name: "exists other key", give: Toleration{Key: "zone", Operator: "Exists"}},
		{name: "exists everything", give: Toleration{Operator: "Exists"}, want: true},
		{name: "unknown operator", give: Toleration{Key: "edge", Operator: "Maybe", Value: "true"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.give.ToleratesTaint(taint); got != tt.want {
				t.Errorf("%+v tolerates %+v = %v, want %v", tt.give, taint, got, tt.want)
			}
			if got := TolerationsTolerateTaint([]Toleration{{Key: "unrelated", Operator: "Exists"}, tt.give}, taint); got != tt.want {
				t.Errorf("list with %+v tolerates = %v, want %v", tt.give, got, tt.want)
			}
		})
	}
	if TolerationsTolerateTaint(nil, taint) {
		t.Error("no tolerations tolerate a taint")
	}
}
