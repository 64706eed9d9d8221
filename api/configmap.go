package api

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
)

// ConfigMap holds configuration for pods to consume as environment
// variables or as files in a volume.
type ConfigMap struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata,omitzero"`
	// Data holds UTF-8 values by key.
	Data map[string]string `json:"data,omitempty"`
	// BinaryData holds other values, base64 on the wire. A key may be in
	// Data or BinaryData, not both.
	BinaryData map[string]Bytes `json:"binaryData,omitempty"`
}

// Secret holds sensitive configuration. The control plane sends a Secret
// only to the nodes whose pods reference it.
type Secret struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata,omitzero"`
	// Data holds the values by key, base64 on the wire.
	Data map[string]Bytes `json:"data,omitempty"`
	// StringData is a write-only convenience: its values are merged into
	// Data (overriding it) when the Secret is stored, and it is cleared.
	StringData map[string]string `json:"stringData,omitempty"`
	// Type is Opaque by default; kubernetes.io/tls needs tls.crt and
	// tls.key, kubernetes.io/basic-auth username or password,
	// kubernetes.io/ssh-auth ssh-privatekey,
	// kubernetes.io/dockerconfigjson .dockerconfigjson.
	Type string `json:"type,omitempty"`
}

// Secret types Skiff checks, as in Kubernetes. Other types are stored as
// given.
const (
	SecretTypeOpaque           = "Opaque"
	SecretTypeTLS              = "kubernetes.io/tls"
	SecretTypeBasicAuth        = "kubernetes.io/basic-auth"
	SecretTypeSSHAuth          = "kubernetes.io/ssh-auth"
	SecretTypeDockerConfigJSON = "kubernetes.io/dockerconfigjson"
)

// MaxConfigBytes is the most a ConfigMap's or Secret's data may hold in
// all, as in Kubernetes (1 MiB).
const MaxConfigBytes = 1 << 20

// Bytes is binary data, base64 (standard encoding, padded) in JSON and
// YAML, as Kubernetes writes Secret data and ConfigMap binaryData.
type Bytes []byte

// MarshalJSON writes b as a base64 string.
func (b Bytes) MarshalJSON() ([]byte, error) {
	return json.Marshal(base64.StdEncoding.EncodeToString(b))
}

// UnmarshalJSON reads a base64 string.
func (b *Bytes) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("expected a base64 string")
	}
	out, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return fmt.Errorf("expected a base64 string: %v", err)
	}
	*b = out
	return nil
}

// SecretValues is the Secret's data with StringData merged over Data, as
// the Secret is stored.
func (s *Secret) SecretValues() map[string][]byte {
	out := make(map[string][]byte, len(s.Data)+len(s.StringData))
	for k, v := range s.Data {
		out[k] = v
	}
	for k, v := range s.StringData {
		out[k] = []byte(v)
	}
	return out
}

// ConfigMapValues is the ConfigMap's Data and BinaryData in one map.
func (c *ConfigMap) ConfigMapValues() map[string][]byte {
	out := make(map[string][]byte, len(c.Data)+len(c.BinaryData))
	for k, v := range c.Data {
		out[k] = []byte(v)
	}
	for k, v := range c.BinaryData {
		out[k] = v
	}
	return out
}

// setSecretDefaults gives a Secret its type and merges StringData into
// Data, as Kubernetes' API server does on write.
func setSecretDefaults(s *Secret) {
	if s.Type == "" {
		s.Type = SecretTypeOpaque
	}
	if len(s.StringData) > 0 {
		if s.Data == nil {
			s.Data = map[string]Bytes{}
		}
		for k, v := range s.StringData {
			s.Data[k] = Bytes(v)
		}
		s.StringData = nil
	}
}

var configKey = regexp.MustCompile(`^[-._a-zA-Z0-9]+$`)

// validateConfigKey checks a ConfigMap or Secret key: it becomes a file
// name in a volume, so it must be a plain name.
func validateConfigKey(k string) error {
	switch {
	case k == "":
		return fmt.Errorf("must not be empty")
	case len(k) > 253:
		return fmt.Errorf("must be at most 253 characters")
	case k == "." || k == "..":
		return fmt.Errorf("must not be %q", k)
	case !configKey.MatchString(k):
		return fmt.Errorf("%q must consist of letters, digits, '-', '_' or '.'", k)
	}
	return nil
}

// ValidateConfigMap checks a ConfigMap and returns every problem.
func ValidateConfigMap(c *ConfigMap) FieldErrors {
	errs := validateMeta(&c.ObjectMeta, true)
	errs = append(errs, validateOwnerReferences(&c.ObjectMeta)...)
	size := 0
	for _, k := range sortedKeys(c.Data) {
		if err := validateConfigKey(k); err != nil {
			errs = append(errs, invalid(fmt.Sprintf("data[%s]", k), "invalid key: %v", err))
		}
		size += len(k) + len(c.Data[k])
	}
	for _, k := range sortedKeys(c.BinaryData) {
		if err := validateConfigKey(k); err != nil {
			errs = append(errs, invalid(fmt.Sprintf("binaryData[%s]", k), "invalid key: %v", err))
		}
		if _, dup := c.Data[k]; dup {
			errs = append(errs, FieldError{Field: fmt.Sprintf("binaryData[%s]", k), Type: ErrTypeDuplicate, Detail: fmt.Sprintf("key %q is also in data", k)})
		}
		size += len(k) + len(c.BinaryData[k])
	}
	if size > MaxConfigBytes {
		errs = append(errs, invalid("data", "the data holds %d bytes, more than the limit of %d", size, MaxConfigBytes))
	}
	return errs
}

// ValidateSecret checks a Secret (after defaulting) and returns every
// problem.
func ValidateSecret(s *Secret) FieldErrors {
	errs := validateMeta(&s.ObjectMeta, true)
	errs = append(errs, validateOwnerReferences(&s.ObjectMeta)...)
	size := 0
	for _, k := range sortedKeys(s.Data) {
		if err := validateConfigKey(k); err != nil {
			errs = append(errs, invalid(fmt.Sprintf("data[%s]", k), "invalid key: %v", err))
		}
		size += len(k) + len(s.Data[k])
	}
	for _, k := range sortedKeys(s.StringData) {
		if err := validateConfigKey(k); err != nil {
			errs = append(errs, invalid(fmt.Sprintf("stringData[%s]", k), "invalid key: %v", err))
		}
		size += len(k) + len(s.StringData[k])
	}
	if size > MaxConfigBytes {
		errs = append(errs, invalid("data", "the data holds %d bytes, more than the limit of %d", size, MaxConfigBytes))
	}
	has := func(k string) bool {
		_, a := s.Data[k]
		_, b := s.StringData[k]
		return a || b
	}
	need := func(keys ...string) {
		for _, k := range keys {
			if !has(k) {
				errs = append(errs, required(fmt.Sprintf("data[%s]", k)))
			}
		}
	}
	switch s.Type {
	case "":
		errs = append(errs, required("type"))
	case SecretTypeTLS:
		need("tls.crt", "tls.key")
	case SecretTypeSSHAuth:
		need("ssh-privatekey")
	case SecretTypeDockerConfigJSON:
		need(".dockerconfigjson")
	case SecretTypeBasicAuth:
		if !has("username") && !has("password") {
			errs = append(errs, required("data[username]"))
		}
	}
	return errs
}
