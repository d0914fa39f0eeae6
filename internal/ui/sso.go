package ui

// ssoRoutes are the SSO connections page's routes.
func (u *UI) ssoRoutes() []route {
	return nil
}
