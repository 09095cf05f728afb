"""The demo world: agency web sites and their behaviour on loopback, for tests and `shopper world`.

`shopper.demo.world.World` runs the sites; `agencies` and `profiles` are the data it runs on;
`mail` (the mail system the agencies write through) belongs to the mail area.
"""
