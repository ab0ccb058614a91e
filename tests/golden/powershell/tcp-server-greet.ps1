# The program behind socketlab engine e1: a TCP greet server on 127.0.0.1:5000: it greets each client, then closes.
# Run it: pwsh e1_greet_server.ps1
# (Stop engine e1 first: only one program at a time can use 127.0.0.1:5000.)
$HostName = '127.0.0.1'
$Port = 5000
$Utf8 = [System.Text.Encoding]::UTF8
$Greeting = "Hello from the server! It's `"`$HOME`" [1]`n"

$listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Parse($HostName), $Port)   # socket(), bind()
$listener.Start(5)                                 # listen()
Write-Host "listening on ${HostName}:$Port"
while ($true) {
    $client = $listener.AcceptTcpClient()          # accept(): a new socket for this client
    $stream = $client.GetStream()
    Write-Host "connection from $($client.Client.RemoteEndPoint)"
    $bytes = $Utf8.GetBytes($Greeting)
    $stream.Write($bytes, 0, $bytes.Length)         # send()
    $client.Close()                                 # close()
}
