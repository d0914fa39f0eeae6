package webapi

// settingsRoutes is filled in by its endpoint group.
func (a *API) settingsRoutes() []Route { return nil }
