package webapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/state"
)

// v2Route is one action of SonarQube's v2 API (api/v2/…): path parameters,
// JSON bodies (PATCH as a JSON merge patch), {"message"} errors and
// "page" objects. It goes through the same authentication, authorization
// and state as the v1 actions; the handlers share the v1 actions' rules.
type v2Route struct {
	Method  string
	Pattern string // "api/v2/users-management/users/{id}"
	Summary string
	Access  access
	// Query are the query parameters, validated as v1 parameters are.
	Query []Param
	// Body documents the JSON body's fields for OpenAPI: name → schema
	// type ("string", "boolean", "array"); Required lists the mandatory.
	Body     map[string]string
	Required []string
	// Status is the success status: 200 with a JSON answer, or 204.
	Status int
	// Out is a sample of the JSON answer, for OpenAPI (see Route.Out).
	Out    any
	Handle func(c *call) (any, error)

	route  *Route // the v1 shape the framework's checks read
	series *routeSeries
}

// v2PagingParams are the v2 API's paging parameters.
func v2PagingParams(defaultSize, maxSize int) []Param {
	return []Param{
		{Name: "pageIndex", Int: true, Default: "1", Desc: "1-based page number"},
		{Name: "pageSize", Int: true, Default: strconv.Itoa(defaultSize), MaxInt: maxSize, Desc: "Page size"},
	}
}

// v2Page is the v2 API's paging object.
type v2Page struct {
	PageIndex int `json:"pageIndex"`
	PageSize  int `json:"pageSize"`
	Total     int `json:"total"`
}

func (c *call) v2Page() (p, ps int) {
	p, ps = c.integer("pageIndex"), c.integer("pageSize")
	return max(p, 1), ps
}

func (a *API) v2Routes() []v2Route {
	return slices.Concat(a.v2UserRoutes(), a.v2GroupRoutes(), a.v2MembershipRoutes(), a.v2GitLabRoutes())
}

// registerV2 adds the v2 routes to mux, beside the v1 catch-all "/api/"
// (the more specific patterns win), with a v2-shaped 404 for the rest of
// api/v2.
func (a *API) registerV2(mux *http.ServeMux) {
	for _, rt := range a.v2 {
		mux.HandleFunc(rt.Method+" /"+rt.Pattern, a.serveV2(rt))
	}
	unknown := &v2Route{Pattern: "api/v2", Access: public, Handle: func(c *call) (any, error) {
		return nil, errorf(http.StatusNotFound, "Unknown url : "+c.r.URL.Path)
	}}
	unknown.route = &Route{Path: unknown.Pattern, Access: public}
	unknown.series = a.metrics.forRoute("unknown")
	mux.HandleFunc("/api/v2/", a.serveV2(unknown))
}

// serveV2 serves one v2 action: the same steps as [API.ServeHTTP], with
// the v2 API's body and error shapes.
func (a *API) serveV2(rt *v2Route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rid := r.Header.Get("X-Request-Id")
		if rid == "" || len(rid) > 64 || strings.ContainsFunc(rid, func(c rune) bool { return c < '!' || c > '~' }) {
			rid = a.newRequestID()
		}
		w.Header().Set("X-Request-Id", rid)
		ctx := r.Context()
		sw := &statusWriter{ResponseWriter: w}
		label := rt.Pattern
		defer func() {
			if rec := recover(); rec != nil {
				a.log.ErrorContext(ctx, "panic in handler", "route", label, "panic", fmt.Sprint(rec), "request_id", rid)
				if sw.status == 0 {
					writeV2Error(sw, a.log, r, rid, errors.New("panic"))
				}
			}
			d := time.Since(start)
			a.metrics.observe(label, rt.series, sw.status, d)
			level := slog.LevelDebug
			if a.opts.AccessLog || sw.status >= 500 {
				level = slog.LevelInfo
			}
			if a.log.Enabled(ctx, level) {
				a.log.LogAttrs(ctx, level, "request", slog.String("request_id", rid), slog.String("method", r.Method),
					slog.String("route", label), slog.Int("status", sw.status), slog.Duration("duration", d))
			}
		}()
		if r.ContentLength != 0 {
			_ = http.NewResponseController(sw).SetReadDeadline(time.Now().Add(a.opts.BodyReadTimeout))
		}
		r.Body = http.MaxBytesReader(sw, r.Body, a.opts.MaxBodyBytes)
		c := &call{ctx: ctx, r: r, w: sw, api: a, form: r.URL.Query(), route: rt.route}
		err := a.authenticate(c)
		if err == nil {
			err = a.authorize(c)
		}
		if err == nil {
			err = rt.route.validate(c.form)
		}
		var body any
		if err == nil {
			if r.Method != http.MethodGet {
				c.ctx = state.WithActor(c.ctx, a.actor(c, rid))
			}
			body, err = rt.Handle(c)
		}
		if err != nil {
			writeV2Error(sw, a.log, r, rid, err)
			return
		}
		if rt.Status == http.StatusNoContent || body == nil {
			sw.WriteHeader(http.StatusNoContent)
			return
		}
		writeJSON(sw, rt.Status, body)
	}
}

// jsonBody decodes the request's JSON object into v. Unknown fields are
// ignored, as lenient clients expect; anything but one object is a 400.
func (c *call) jsonBody(v any) error {
	if err := c.checkJSONType(); err != nil {
		return err
	}
	dec := json.NewDecoder(c.r.Body)
	if err := dec.Decode(v); err != nil {
		return c.bodyError(err)
	}
	if dec.More() {
		return badRequest("The request body must be one JSON object")
	}
	return nil
}

// mergePatch reads a JSON merge patch (RFC 7396): the fields present, a
// null value meaning "remove".
func (c *call) mergePatch() (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := c.jsonBody(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, badRequest("The request body must be one JSON object")
	}
	return m, nil
}

func (c *call) checkJSONType() error {
	ct := c.r.Header.Get("Content-Type")
	if ct == "" {
		return nil // curl without -H; the body is still JSON or refused below
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" && mt != "application/merge-patch+json" {
		return errorf(http.StatusUnsupportedMediaType, "Content-Type '"+clip(ct)+"' is not supported: send application/json")
	}
	return nil
}

func (c *call) bodyError(err error) error {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return errorf(http.StatusRequestEntityTooLarge, fmt.Sprintf("The request body is larger than %d bytes", c.api.opts.MaxBodyBytes))
	case errors.Is(err, io.EOF):
		return badRequest("The request body is missing: send a JSON object")
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		return badRequest(fmt.Sprintf("The '%s' field has the wrong type: %s expected", typeErr.Field, typeErr.Type))
	}
	return badRequest("The request body is not valid JSON: " + safeParseError(err))
}

// patchString reads a string field of a merge patch: nil when absent, a
// pointer to "" when null and nullable, a 400 when null and not.
func patchString(m map[string]json.RawMessage, field string, nullable bool) (*string, error) {
	raw, ok := m[field]
	if !ok {
		return nil, nil
	}
	if string(raw) == "null" {
		if !nullable {
			return nil, badRequest(fmt.Sprintf("The '%s' field cannot be null", field))
		}
		empty := ""
		return &empty, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, badRequest(fmt.Sprintf("The '%s' field must be a string", field))
	}
	return &s, nil
}

// pathID parses the {id} path value; an id that cannot be one is as
// unknown as a missing one (what, e.g. "User", names it in the 404).
func pathID(c *call, what string) (int64, error) {
	raw := c.r.PathValue("id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return 0, errorf(http.StatusNotFound, fmt.Sprintf("%s '%s' not found", what, clip(raw)))
	}
	return id, nil
}

// jsonUnmarshalField decodes one field of a merge patch; what describes
// the expected value for the 400.
func jsonUnmarshalField(raw json.RawMessage, v any, field, what string) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return badRequest(fmt.Sprintf("The '%s' field must be %s", field, what))
	}
	return nil
}

// clip bounds a client-sent value quoted back in a message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// pathParam finds the {name} path parameters of a pattern.
var pathParam = regexp.MustCompile(`\{(\w+)\}`)

// addV2Paths describes the v2 routes in the OpenAPI document: several
// methods per path, the {id} path parameter, JSON bodies and the v2 error.
func (a *API) addV2Paths(paths map[string]any, sc *schemas) {
	sc.components["V2Error"] = sc.structObject(reflect.TypeFor[v2ErrorBody]())
	errResp := jsonContent("Error", map[string]any{"$ref": "#/components/schemas/V2Error"})
	for _, rt := range a.v2 {
		params := []any{}
		for _, m := range pathParam.FindAllStringSubmatch(rt.Pattern, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		for _, p := range rt.Query {
			params = append(params, map[string]any{"name": p.Name, "in": "query", "description": p.Desc, "schema": paramSchema(p)})
		}
		responses := map[string]any{"400": errResp, "401": errResp, "403": errResp, "404": errResp, "default": errResp}
		if rt.Status == http.StatusNoContent {
			responses["204"] = map[string]any{"description": "No content"}
		} else {
			responses[strconv.Itoa(rt.Status)] = jsonContent("OK", answerSchema(sc, rt.Out))
		}
		op := map[string]any{
			"summary":     rt.Summary,
			"operationId": strings.ToLower(rt.Method) + "_" + strings.NewReplacer("api/", "", "/", "_", "{", "", "}", "", "-", "_").Replace(rt.Pattern),
			"tags":        []string{"v2"},
			"parameters":  params,
			"responses":   responses,
		}
		if rt.Body != nil {
			props := map[string]any{}
			for name, typ := range rt.Body {
				schema := map[string]any{"type": typ}
				if typ == "array" {
					schema["items"] = map[string]any{"type": "string"}
				}
				props[name] = schema
			}
			body := map[string]any{"type": "object", "properties": props}
			if len(rt.Required) > 0 {
				body["required"] = rt.Required
			}
			ct := "application/json"
			if rt.Method == http.MethodPatch {
				ct = "application/merge-patch+json"
			}
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{ct: map[string]any{"schema": body}}}
		}
		item, _ := paths["/"+rt.Pattern].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths["/"+rt.Pattern] = item
		}
		item[strings.ToLower(rt.Method)] = op
	}
}
