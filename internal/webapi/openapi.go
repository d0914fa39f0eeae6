package webapi

import (
	"net/http"
	"reflect"
	"strconv"
	"strings"
)

// Probe is a plain-text endpoint the server serves beside the API (a
// health probe), listed in the OpenAPI document.
type Probe struct {
	Path    string // "/healthz"
	Summary string
}

// Response kinds of a [Route] (its Response field).
const (
	respJSON     = ""         // 200 with the JSON of Route.Out
	respText     = "text"     // 200 text/plain
	respEmpty    = "empty"    // 204
	respOK       = "ok"       // 200 with an empty body (sign-in, sign-out)
	respRedirect = "redirect" // 302 with a Location
)

// paramSchema is the schema of a query or form parameter, as the framework
// validates it.
func paramSchema(p Param) map[string]any {
	schema := map[string]any{"type": "string"}
	if p.Int {
		schema = map[string]any{"type": "integer", "minimum": 1}
		if p.MaxInt > 0 {
			schema["maximum"] = p.MaxInt
		}
	}
	if len(p.Values) > 0 {
		schema["enum"] = p.Values
	}
	if p.MaxLen > 0 {
		schema["maxLength"] = p.MaxLen
	}
	if p.MinLen > 0 {
		schema["minLength"] = p.MinLen
	}
	if p.Default != "" {
		schema["default"] = p.Default
		if n, err := strconv.Atoi(p.Default); p.Int && err == nil {
			schema["default"] = n
		}
	}
	if p.Multi {
		schema = map[string]any{"type": "array", "items": schema}
	}
	return schema
}

// jsonContent is a response with a JSON body of schema.
func jsonContent(description string, schema map[string]any) map[string]any {
	return map[string]any{"description": description, "content": map[string]any{"application/json": map[string]any{"schema": schema}}}
}

func textContent(description string) map[string]any {
	return map[string]any{"description": description, "content": map[string]any{"text/plain": map[string]any{"schema": map[string]any{"type": "string"}}}}
}

// answerSchema is the schema of a JSON answer; a route without Out gets an
// untyped object, which TestOpenAPITypedResponses refuses.
func answerSchema(sc *schemas, out any) map[string]any {
	if out == nil {
		return map[string]any{"type": "object", "description": "Undocumented: the route declares no Out."}
	}
	return sc.of(out)
}

// successResponses are a route's documented success answers.
func successResponses(sc *schemas, kind string, out any) map[string]any {
	switch kind {
	case respEmpty:
		return map[string]any{"204": map[string]any{"description": "No content"}}
	case respText:
		return map[string]any{"200": textContent("OK")}
	case respOK:
		return map[string]any{"200": map[string]any{"description": "OK, with an empty body"}}
	case respRedirect:
		return map[string]any{"302": map[string]any{"description": "Found: the browser follows Location",
			"headers": map[string]any{"Location": map[string]any{"schema": map[string]any{"type": "string"}}}}}
	}
	return map[string]any{"200": jsonContent("OK", answerSchema(sc, out))}
}

// openAPI builds the OpenAPI 3 document from the route table, so it cannot
// drift from what is served.
func (a *API) openAPI() map[string]any {
	sc := newSchemas()
	errRef := map[string]any{"$ref": "#/components/schemas/Error"}
	paths := map[string]any{}
	for _, rt := range a.ordered {
		params := []any{}
		props := map[string]any{}
		var required []string
		for _, p := range rt.Params {
			schema := paramSchema(p)
			params = append(params, map[string]any{
				"name": p.Name, "in": "query", "required": p.Required && rt.Method == http.MethodGet,
				"description": p.Desc, "schema": schema,
			})
			props[p.Name] = schema
			if p.Required {
				required = append(required, p.Name)
			}
		}
		responses := successResponses(sc, rt.Response, rt.Out)
		for _, code := range []string{"400", "401", "403", "404", "default"} {
			responses[code] = jsonContent("Error", errRef)
		}
		if _, ok := rt.Out.(refusalAnswer); ok {
			responses["400"] = jsonContent("Error, or the answer of a request refused as a whole", map[string]any{"anyOf": []any{errRef, sc.of(rt.Out)}})
		}
		op := map[string]any{
			"summary":     rt.Summary,
			"operationId": strings.ReplaceAll(strings.TrimPrefix(rt.Path, "api/"), "/", "_"),
			"tags":        []string{strings.Split(strings.TrimPrefix(rt.Path, "api/"), "/")[0]},
			"responses":   responses,
		}
		if rt.Access == public {
			op["security"] = []any{}
		}
		if rt.Method == http.MethodPost && rt.In != nil {
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": sc.of(rt.In)}}}
		} else if rt.Method == http.MethodPost {
			// POST actions take their parameters from the query string or a
			// form body.
			for _, p := range params {
				p.(map[string]any)["required"] = false
			}
			body := map[string]any{"type": "object", "properties": props}
			if len(required) > 0 {
				body["required"] = required
			}
			op["requestBody"] = map[string]any{"content": map[string]any{"application/x-www-form-urlencoded": map[string]any{"schema": body}}}
		}
		op["parameters"] = params
		ops, _ := paths["/"+rt.Path].(map[string]any)
		if ops == nil {
			ops = map[string]any{}
			paths["/"+rt.Path] = ops
		} else {
			op["operationId"] = op["operationId"].(string) + "_" + strings.ToLower(rt.Method)
		}
		ops[strings.ToLower(rt.Method)] = op
	}
	a.addV2Paths(paths, sc)
	paths["/api/openapi.json"] = map[string]any{"get": map[string]any{
		"summary": "This document.", "operationId": "openapi", "tags": []string{"meta"}, "security": []any{},
		"responses": map[string]any{"200": jsonContent("The OpenAPI 3 document", map[string]any{"type": "object", "required": []string{"openapi", "info", "paths"},
			"properties": map[string]any{"openapi": map[string]any{"type": "string"}, "info": map[string]any{"type": "object"}, "paths": map[string]any{"type": "object"},
				"components": map[string]any{"type": "object"}, "security": map[string]any{"type": "array", "items": map[string]any{"type": "object"}}}})},
	}}
	metricsResponses := map[string]any{"200": textContent("Metrics")}
	if a.opts.MetricsToken != "" {
		metricsResponses["401"] = textContent("The metrics bearer token is missing or wrong")
	}
	if !a.opts.MetricsElsewhere {
		paths["/metrics"] = map[string]any{"get": map[string]any{
			"summary": "Prometheus metrics (text exposition format); behind a bearer token of its own when the server sets one (GATEHOUSE_METRICS_TOKEN).", "operationId": "metrics", "tags": []string{"meta"}, "security": []any{},
			"responses": metricsResponses,
		}}
	}
	for _, p := range a.opts.Probes {
		paths[p.Path] = map[string]any{"get": map[string]any{
			"summary": p.Summary, "operationId": "probe_" + strings.Trim(nonNameChars.ReplaceAllString(p.Path, "_"), "_"),
			"tags": []string{"meta"}, "security": []any{},
			"responses": map[string]any{"200": textContent("Up"), "503": textContent("Not ready")},
		}}
	}
	components := sc.components
	components["Error"] = sc.structObject(reflect.TypeFor[errorBody]())
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{
			"title":       "Gatehouse Web API",
			"version":     a.opts.GatehouseVersion,
			"description": "SonarQube-compatible identity endpoints and Gatehouse's own endpoints. POST actions accept parameters in the query string or a form body.",
		},
		"paths": paths,
		"components": map[string]any{
			"schemas": components,
			"securitySchemes": map[string]any{
				"bearer":  map[string]any{"type": "http", "scheme": "bearer"},
				"basic":   map[string]any{"type": "http", "scheme": "basic"},
				"session": map[string]any{"type": "apiKey", "in": "cookie", "name": sessionCookie},
			},
		},
		"security": []any{map[string]any{"bearer": []any{}}, map[string]any{"basic": []any{}}, map[string]any{"session": []any{}}},
	}
}

func (a *API) serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, a.openAPI())
}
