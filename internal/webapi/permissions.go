package webapi

// permissionRoutes is filled in by its endpoint group.
func (a *API) permissionRoutes() []Route { return nil }
