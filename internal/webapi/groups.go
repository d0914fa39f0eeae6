package webapi

// groupRoutes is filled in by its endpoint group.
func (a *API) groupRoutes() []Route { return nil }
