import Model
@_exported import Loopback
