# placeholder, filled in below
