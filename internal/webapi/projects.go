package webapi

// projectRoutes is filled in by its endpoint group.
func (a *API) projectRoutes() []Route { return nil }
