package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	nethttp "net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"jifen/platform"
)

// Bind decodes the request's JSON body into v. A body that is not JSON is
// invalid_json; a value of the wrong type is validation_failed naming the
// field. Numbers keep their integer precision.
func Bind(c *gin.Context, v any) error {
	if ct := c.GetHeader("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return platform.Errorf(platform.EUnsupportedMedia, "Send the body as application/json.")
		}
	}
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var mbe *nethttp.MaxBytesError
		if errors.As(err, &mbe) {
			return platform.Errorf(platform.EPayloadTooLarge, "The request body is larger than the server accepts.")
		}
		return platform.Errorf(platform.EInvalidJSON, "The request body could not be read.")
	}
	c.Request.Body = io.NopCloser(bytes.NewReader(body))
	return DecodeJSON(body, v)
}

// DecodeJSON decodes body into v with Bind's error rules.
func DecodeJSON(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return platform.Errorf(platform.EInvalidJSON, "The request body is empty; send a JSON object.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			field := te.Field
			if field == "" {
				return platform.Errorf(platform.EInvalidJSON, "The request body must be a JSON object.")
			}
			return (&platform.Error{Code: platform.EValidation, Message: "Some fields are invalid; see details."}).
				WithDetails(map[string]any{field: "must be " + jsonKind(te.Type.Kind().String())})
		}
		return platform.Errorf(platform.EInvalidJSON, "The request body is not valid JSON: %s.", strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return platform.Errorf(platform.EInvalidJSON, "The request body has data after the JSON value.")
	}
	return nil
}

func jsonKind(goKind string) string {
	switch goKind {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	}
	return "of another type"
}
