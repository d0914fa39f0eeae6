package ui

// ldapRoutes are the LDAP page's routes.
func (u *UI) ldapRoutes() []route {
	return nil
}
