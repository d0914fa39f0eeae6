package webapi

// auditRoutes is filled in by its endpoint group.
func (a *API) auditRoutes() []Route { return nil }
