package webapi

func (a *API) systemRoutes() []Route {
	return []Route{
		{Method: "GET", Path: "api/system/status", Summary: "Server status; clients call it first.", Access: public, Handle: a.systemStatus},
		{Method: "GET", Path: "api/system/ping", Summary: "Answers pong.", Access: public, Response: "text", Handle: func(*call) (any, error) { return text("pong"), nil }},
		{Method: "GET", Path: "api/server/version", Summary: "The SonarQube API version Gatehouse implements.", Access: public, Response: "text", Handle: func(*call) (any, error) { return text(Version), nil }},
		{Method: "GET", Path: "api/system/info", Summary: "System information (System.Version, System.Edition), read by the Terraform provider.", Access: admin, Handle: a.systemInfo},
	}
}

func (a *API) systemStatus(c *call) (any, error) {
	return map[string]string{"id": "gatehouse", "version": Version, "status": "UP"}, nil
}

func (a *API) systemInfo(c *call) (any, error) {
	st := a.st.Index().Stats()
	return map[string]any{
		"Health": "GREEN",
		"System": map[string]any{
			"Version":                                Version,
			"Edition":                                "Community",
			"Server ID":                              "gatehouse",
			"Gatehouse":                              a.opts.GatehouseVersion,
			"External Users and Groups Provisioning": "Gatehouse",
		},
		"Statistics": map[string]any{"users": st.Users, "groups": st.Groups, "projects": st.Projects, "tokens": st.Tokens},
	}, nil
}
