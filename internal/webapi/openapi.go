package webapi

import (
	"net/http"
	"strings"
)

// openAPI builds the OpenAPI 3 document from the route table, so it cannot
// drift from what is served.
func (a *API) openAPI() map[string]any {
	paths := map[string]any{}
	for _, rt := range a.ordered {
		params := []any{}
		props := map[string]any{}
		var required []string
		for _, p := range rt.Params {
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
			}
			if p.Multi {
				schema = map[string]any{"type": "array", "items": schema}
			}
			params = append(params, map[string]any{
				"name": p.Name, "in": "query", "required": p.Required && rt.Method == http.MethodGet,
				"description": p.Desc, "schema": schema,
			})
			props[p.Name] = schema
			if p.Required {
				required = append(required, p.Name)
			}
		}
		responses := map[string]any{
			"400": ref("Error"), "401": ref("Error"), "403": ref("Error"), "404": ref("Error"),
		}
		switch rt.Response {
		case "empty":
			responses["204"] = map[string]any{"description": "No content"}
		case "text":
			responses["200"] = map[string]any{"description": "OK", "content": map[string]any{"text/plain": map[string]any{"schema": map[string]any{"type": "string"}}}}
		default:
			responses["200"] = map[string]any{"description": "OK", "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "object"}}}}
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
		if rt.Method == http.MethodPost {
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
	a.addV2Paths(paths)
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{
			"title":       "Gatehouse Web API",
			"version":     a.opts.GatehouseVersion,
			"description": "SonarQube-compatible identity endpoints and Gatehouse's own endpoints. POST actions accept parameters in the query string or a form body.",
		},
		"paths": paths,
		"components": map[string]any{
			"schemas": map[string]any{
				"Error": map[string]any{"type": "object", "properties": map[string]any{
					"errors": map[string]any{"type": "array", "items": map[string]any{"type": "object", "properties": map[string]any{"msg": map[string]any{"type": "string"}}}},
				}},
			},
			"securitySchemes": map[string]any{
				"bearer":  map[string]any{"type": "http", "scheme": "bearer"},
				"basic":   map[string]any{"type": "http", "scheme": "basic"},
				"session": map[string]any{"type": "apiKey", "in": "cookie", "name": sessionCookie},
			},
		},
		"security": []any{map[string]any{"bearer": []any{}}, map[string]any{"basic": []any{}}, map[string]any{"session": []any{}}},
	}
}

func ref(name string) map[string]any {
	return map[string]any{"description": name, "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/" + name}}}}
}

func (a *API) serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, a.openAPI())
}
