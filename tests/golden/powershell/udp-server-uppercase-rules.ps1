# The program behind socketlab engine e1: a UDP uppercase server on 127.0.0.1:5000: it sends back what it receives in capitals.
# Run it: pwsh e1_udp_uppercase_server.ps1
# (Stop engine e1 first: only one program at a time can use 127.0.0.1:5000.)
$HostName = '127.0.0.1'
$Port = 5000
$Utf8 = [System.Text.Encoding]::UTF8

# Reply rules, tried on each message before the behavior: the first match answers.
$Rules = @(
    @{ Kind = 'exact'; Pattern = 'ping'; Reply = 'pong #{{counter}}'; Count = 0 }
    @{ Kind = 'contains'; Pattern = 'time'; Reply = 'it is {{time}}'; Count = 0 }
    @{ Kind = 'regex'; Pattern = '^HELLO (\w+)$'; Reply = 'hi {{match}}, you are {{peer}}; it''s "$5" [ok]'; Count = 0 }
)

function Get-RuleReply([string]$message, [string]$peer) {
    $text = $message.TrimEnd("`n").TrimEnd("`r")
    foreach ($rule in $Rules) {
        $found = $null
        switch ($rule.Kind) {
            'exact' { if ($text -ceq $rule.Pattern) { $found = $rule.Pattern } }
            'contains' { if ($text.Contains($rule.Pattern)) { $found = $rule.Pattern } }
            'regex' { $m = [regex]::Match($text, $rule.Pattern); if ($m.Success) { $found = if ($m.Groups.Count -gt 1) { $m.Groups[1].Value } else { $m.Value } } }
        }
        if ($null -eq $found) { continue }
        $rule.Count++
        $now = [DateTime]::UtcNow.ToString('yyyy-MM-ddTHH:mm:ssZ')
        $out = $rule.Reply.Replace('{{peer}}', $peer).Replace('{{time}}', $now)
        $out = $out.Replace('{{counter}}', [string]$rule.Count).Replace('{{match}}', $found)
        if ($message.EndsWith("`n") -and -not $out.EndsWith("`n")) { $out += "`n" }
        return $out
    }
    return $null
}

function Get-Reply([string]$data, [string]$peer) {
    $out = ''
    foreach ($message in [regex]::Split($data, '(?<=\n)')) {
        if ($message -eq '') { continue }
        $answer = Get-RuleReply $message $peer
        if ($null -ne $answer) { $out += $answer; continue }
        $data = $message
        $out += $data.ToUpperInvariant()
    }
    return $out
}

$endpoint = [System.Net.IPEndPoint]::new([System.Net.IPAddress]::Parse($HostName), $Port)
$udp = [System.Net.Sockets.UdpClient]::new($endpoint)   # socket(), bind()
Write-Host "bound to ${HostName}:$Port"
while ($true) {
    $from = [System.Net.IPEndPoint]::new([System.Net.IPAddress]::Any, 0)
    $datagram = $udp.Receive([ref]$from)              # recvfrom(): a datagram and who sent it
    $data = $Utf8.GetString($datagram)
    Write-Host "received $data from $from"
    $reply = Get-Reply $data "$from"
    if ($reply) {
        $bytes = $Utf8.GetBytes($reply)
        $udp.Send($bytes, $bytes.Length, $from) | Out-Null   # sendto()
    }
}
